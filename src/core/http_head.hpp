// Writing an HTTP/1.1 head as text, for the two places the gateway sends one on every request
// (its answer to the client, its request to an upstream). Beast's serializer walks a chain of
// buffer views per write and allocates a node per field: about 40k instructions a request that
// a head appended into one string does without (bench/instructions.sh, docs/performance.md).
#pragma once

#include <algorithm>
#include <cstddef>
#include <string>
#include <string_view>

namespace switchyard {

// Appends `name: value` and CRLF to `head`. A CR, LF or NUL in either becomes a space, so that
// no name or value (from a config, a client or an upstream) can end the head early or add a
// header of its own.
inline void append_header(std::string& head, std::string_view name, std::string_view value) {
  const auto unsafe = [](char c) { return c == '\r' || c == '\n' || c == '\0'; };
  const auto append_clean = [&](std::string_view s) {
    bool any = false;
    for (const char c : s) any |= unsafe(c);  // no branch per byte: vectorised
    const std::size_t at = head.size();
    head.append(s);
    const auto from = head.begin() + static_cast<std::ptrdiff_t>(at);
    if (any) std::replace_if(from, head.end(), unsafe, ' ');
  };
  append_clean(name);
  head.append(": ");
  append_clean(value);
  head.append("\r\n");
}

}  // namespace switchyard

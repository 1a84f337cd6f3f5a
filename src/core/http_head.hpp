// Writing an HTTP/1.1 head as text, for the two places the gateway sends one on every request
// (its answer to the client, its request to an upstream). Beast's serializer walks a chain of
// buffer views per write and allocates a node per field: about 40k instructions a request that
// a head appended into one string does without (bench/instructions.sh, docs/performance.md).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace switchyard {

// Whether `s` holds a CR, LF or NUL, eight bytes a step: a byte of x is zero where
// (x - 0x0101…) & ~x & 0x8080… has its high bit, and none is zero if no bit is set.
inline bool has_line_break(std::string_view s) {
  constexpr std::uint64_t kOnes = 0x0101010101010101u, kHighs = kOnes * 0x80;
  const auto zero_byte = [](std::uint64_t x) { return (x - kOnes) & ~x & kHighs; };
  std::size_t i = 0;
  for (; i + 8 <= s.size(); i += 8) {
    std::uint64_t x;
    std::memcpy(&x, s.data() + i, 8);
    if (zero_byte(x) | zero_byte(x ^ (kOnes * '\r')) | zero_byte(x ^ (kOnes * '\n'))) return true;
  }
  for (; i < s.size(); ++i)
    if (s[i] == '\r' || s[i] == '\n' || s[i] == '\0') return true;
  return false;
}

// Appends `name: value` and CRLF to `head`. A CR, LF or NUL in either becomes a space, so that
// no name or value (from a config, a client or an upstream) can end the head early or add a
// header of its own.
inline void append_header(std::string& head, std::string_view name, std::string_view value) {
  const std::size_t at = head.size();
  head.append(name).append(": ", 2).append(value).append("\r\n", 2);
  if (has_line_break(name) || has_line_break(value))
    std::replace_if(head.begin() + static_cast<std::ptrdiff_t>(at), head.end() - 2,
                    [](char c) { return c == '\r' || c == '\n' || c == '\0'; }, ' ');
}

}  // namespace switchyard

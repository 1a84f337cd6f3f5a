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

// A byte that would end a header line early: CR, LF or NUL.
inline bool breaks_line(char c) { return c == '\r' || c == '\n' || c == '\0'; }

// Whether `s` holds a CR, LF or NUL, eight bytes a step: a byte of x is zero where
// (x - 0x0101…) & ~x & 0x8080… has its high bit, and none is zero if no bit is set. The last
// step reads the last eight bytes (again, in part); only a text under eight goes byte by byte.
inline bool has_line_break(std::string_view s) {
  constexpr std::uint64_t kOnes = 0x0101010101010101u, kHighs = kOnes * 0x80;
  const auto breaks = [&](const char* at) {
    std::uint64_t x;
    std::memcpy(&x, at, 8);
    const auto zero_byte = [](std::uint64_t y) { return (y - kOnes) & ~y & kHighs; };
    return (zero_byte(x) | zero_byte(x ^ (kOnes * '\r')) | zero_byte(x ^ (kOnes * '\n'))) != 0;
  };
  if (s.size() < 8)
    return std::any_of(s.begin(), s.end(), breaks_line);
  for (std::size_t i = 0; i + 8 < s.size(); i += 8)
    if (breaks(s.data() + i)) return true;
  return breaks(s.data() + s.size() - 8);
}

// Appends `name: value` and CRLF to `head`. A CR, LF or NUL in either becomes a space, so that
// no name or value (from a config, a client or an upstream) can end the head early or add a
// header of its own.
inline void append_header(std::string& head, std::string_view name, std::string_view value) {
  const std::size_t at = head.size(), size = name.size() + 2 + value.size();
  head.resize(at + size + 2);  // one growth for the line, not one per part
  char* line = head.data() + at;
  std::copy(name.begin(), name.end(), line);  // not memcpy: an empty view's data may be null
  line[name.size()] = ':';
  line[name.size() + 1] = ' ';
  std::copy(value.begin(), value.end(), line + name.size() + 2);
  if (has_line_break({line, size})) std::replace_if(line, line + size, breaks_line, ' ');
  line[size] = '\r';
  line[size + 1] = '\n';
}

}  // namespace switchyard

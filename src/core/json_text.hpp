// Writing JSON text by hand on the data path, where building a DOM only to dump it cost tens of
// thousands of instructions a request (an access line, a routing decision).
#pragma once

#include <charconv>
#include <cmath>
#include <string>
#include <string_view>

namespace switchyard {

// Appends `s` as the inside of a JSON string: quotes, backslashes and control characters
// escaped. Other bytes are copied as they are (names from a config, ids the gateway checked).
inline void append_json_escaped(std::string& out, std::string_view s) {
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(c);
    } else if (u < 0x20 || u == 0x7f) {
      constexpr char kHex[] = "0123456789abcdef";
      const char esc[] = {'\\', 'u', '0', '0', kHex[u >> 4], kHex[u & 15]};
      out.append(esc, sizeof esc);
    } else {
      out.push_back(c);
    }
  }
}

// Appends `v` as a JSON number, in the shortest form that reads back as the same double; null
// when it is not finite (JSON has no NaN or infinity).
inline void append_json_number(std::string& out, double v) {
  if (!std::isfinite(v)) {
    out.append("null");
    return;
  }
  char buf[32];
  out.append(buf, std::to_chars(buf, buf + sizeof buf, v).ptr);
}

}  // namespace switchyard

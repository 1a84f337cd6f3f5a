// Writing JSON text by hand on the data path, where building a DOM only to dump it cost tens of
// thousands of instructions a request (an access line, a routing decision).
#pragma once

#include <charconv>
#include <cmath>
#include <cstdint>
#include <iterator>
#include <string>
#include <string_view>

namespace switchyard {

// Appends `s` as the inside of a JSON string: quotes, backslashes and control characters
// escaped. Other bytes are copied as they are (names from a config, ids the gateway checked), a
// run of them in one append.
inline void append_json_escaped(std::string& out, std::string_view s) {
  std::size_t run = 0;  // where the bytes not yet appended start
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto u = static_cast<unsigned char>(s[i]);
    if (u >= 0x20 && u != 0x7f && u != '"' && u != '\\') continue;
    out.append(s.data() + run, i - run);
    run = i + 1;
    if (u == '"' || u == '\\') {
      const char esc[] = {'\\', s[i]};
      out.append(esc, sizeof esc);
    } else {
      constexpr char kHex[] = "0123456789abcdef";
      const char esc[] = {'\\', 'u', '0', '0', kHex[u >> 4], kHex[u & 15]};
      out.append(esc, sizeof esc);
    }
  }
  out.append(s.data() + run, s.size() - run);
}

// Appends `v` as std::to_chars writes it: an integer in decimal, a double in the shortest form
// that reads back as the same value. The digits go in as one view: an iterator range would take
// libstdc++'s general _M_replace.
template <class Number>
void append_chars(std::string& out, Number v) {
  char buf[32];  // a double's shortest form takes at most 24
  out.append(std::string_view(buf, std::to_chars(buf, std::end(buf), v).ptr));
}

// Appends `v` as a JSON number, in the shortest form that reads back as the same double; null
// when it is not finite (JSON has no NaN or infinity).
inline void append_json_number(std::string& out, double v) {
  if (!std::isfinite(v)) {
    out.append("null");
    return;
  }
  append_chars(out, v);
}

// Appends `v` with exactly `decimals` digits after the point (at most 9), the digits printf's
// "%.*f" writes (ties to even), for the values a gateway writes (costs, milliseconds); a
// negative value that rounds to zero loses its sign. |v| is scaled to an integer count of the
// last digit, and the remainder of that product, taken with one rounding (fma), picks the
// rounding direction; a remainder that rounds to one half is settled by the sign of the exact
// difference from the half, which fma also gives. A value too large to scale into 52 bits, not
// finite, or asked for with more than 9 decimals goes through std::to_chars, which is exact and
// about ten times slower.
inline void append_fixed(std::string& out, double v, int decimals) {
  constexpr std::uint64_t kPow10[] = {1,         10,         100,         1'000,        10'000,
                                      100'000,   1'000'000,  10'000'000,  100'000'000,
                                      1'000'000'000};
  const bool scalable = decimals >= 0 && decimals <= 9;
  const std::uint64_t scale = scalable ? kPow10[decimals] : 1;
  const double a = std::fabs(v), s = static_cast<double>(scale);
  const double scaled = a * s;
  if (!scalable || !(scaled < 4e15)) {  // whole + 0.5 below stays exact; NaN lands here too
    char buf[330];
    const auto end = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed, decimals);
    out.append(std::string_view(buf, end.ptr));
    return;
  }
  double whole = std::floor(scaled);
  double rest = std::fma(a, s, -whole);  // a·s − whole, rounded once
  if (rest < 0) whole -= 1, rest += 1;   // the rounded product crossed an integer
  if (rest >= 1) whole += 1, rest -= 1;
  if (rest == 0.5) {
    const double beyond = std::fma(a, s, -(whole + 0.5));  // its sign is exact
    if (beyond > 0 || (beyond == 0 && std::fmod(whole, 2) != 0)) whole += 1;
  } else if (rest > 0.5) {
    whole += 1;
  }
  const auto units = static_cast<std::uint64_t>(whole);
  if (v < 0 && units > 0) out.push_back('-');
  append_chars(out, units / scale);
  if (decimals == 0) return;
  out.push_back('.');
  char frac[9];
  std::uint64_t digits = units % scale;
  for (int i = decimals - 1; i >= 0; --i, digits /= 10)
    frac[i] = static_cast<char>('0' + digits % 10);
  out.append(frac, static_cast<std::size_t>(decimals));
}

}  // namespace switchyard

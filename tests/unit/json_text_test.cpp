// The JSON text the data path writes by hand (core/json_text.hpp).
#include "core/json_text.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <charconv>
#include <cmath>
#include <random>
#include <string>

namespace switchyard {
namespace {

std::string fixed(double v, int decimals) {
  std::string s;
  append_fixed(s, v, decimals);
  return s;
}

std::string exact(double v, int decimals) {
  char buf[400];
  return {buf, std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed, decimals).ptr};
}

TEST(JsonText, EscapedStringsReadBackAsWritten) {
  const auto escaped = [](std::string_view s) {
    std::string out = "[\"";
    append_json_escaped(out, s);
    return out + "\"]";
  };
  EXPECT_EQ(escaped(""), R"([""])");
  EXPECT_EQ(escaped("plain name"), R"(["plain name"])");
  EXPECT_EQ(escaped("a\"b\\c"), R"(["a\"b\\c"])");
  EXPECT_EQ(escaped(std::string("\0\n\x1f\x7f", 4)), R"(["\u0000\u000a\u001f\u007f"])");
  EXPECT_EQ(escaped("\"\""), R"(["\"\""])");  // escapes next to each other, no run between
  // Every ASCII byte, alone and amid others, and UTF-8 passed through: nlohmann reads back
  // the string it was.
  std::string all;
  for (int c = 0; c < 128; ++c) all.push_back(static_cast<char>(c));
  for (const std::string& s : {all, "x" + all + "\xC3\xA9y", std::string("\xE2\x82\xAC\"")}) {
    const auto parsed = nlohmann::json::parse(escaped(s), nullptr, false);
    ASSERT_FALSE(parsed.is_discarded()) << escaped(s);
    EXPECT_EQ(parsed.at(0).get<std::string>(), s);
  }
}

TEST(JsonText, FixedWritesTheDigitsPrintfWould) {
  EXPECT_EQ(fixed(0, 8), "0.00000000");
  EXPECT_EQ(fixed(0.00012, 8), "0.00012000");
  EXPECT_EQ(fixed(1.5, 0), "2");
  EXPECT_EQ(fixed(12.345678, 2), "12.35");
  EXPECT_EQ(fixed(-0.25, 1), exact(-0.25, 1));
  EXPECT_EQ(fixed(-0.000000001, 2), "0.00");  // printf would keep the sign: "-0.00"
  EXPECT_EQ(fixed(1e300, 2), exact(1e300, 2));  // too large to scale: the exact path
  EXPECT_EQ(fixed(0.1234567890123, 12), exact(0.1234567890123, 12));  // past 9 decimals too
  // Just above a decimal tie, by less than a double's rounding of the scaled remainder.
  EXPECT_EQ(fixed(0.005, 2), "0.01");
  EXPECT_EQ(fixed(0.0025, 3), "0.003");
  EXPECT_EQ(fixed(0.000381035, 8), exact(0.000381035, 8));
  EXPECT_EQ(fixed(1.05e-07, 8), exact(1.05e-07, 8));
  // Every decimal written with one digit more than asked, ending in 5: each is a tie, or just
  // off one, in binary.
  std::mt19937_64 pick(3);
  for (int d = 1; d <= 9; ++d)
    for (int i = 0; i < 20'000; ++i) {
      const auto digits = std::uniform_int_distribution<std::uint64_t>(0, 99'999)(pick);
      const double v = std::stod(std::to_string(digits * 10 + 5) + "e-" + std::to_string(d + 1));
      ASSERT_EQ(fixed(v, d), exact(v, d)) << v << " to " << d;
    }
  // Binary fractions, many of them ties in decimal (0.125 to 2 digits: "0.12").
  for (int k = 1; k <= 12; ++k)
    for (int i = 0; i < 5'000; ++i)
      for (int d = 1; d <= 9; ++d) {
        const double v = std::ldexp(i, -k);
        ASSERT_EQ(fixed(v, d), exact(v, d)) << v << " to " << d;
      }
  // Costs and latencies as the gateway writes them, against the exact conversion.
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> usd(0, 50), ms(0, 600'000);
  for (int i = 0; i < 100'000; ++i) {
    const double c = usd(rng), m = ms(rng);
    ASSERT_EQ(fixed(c, 8), exact(c, 8)) << c;
    ASSERT_EQ(fixed(m, 2), exact(m, 2)) << m;
  }
}

}  // namespace
}  // namespace switchyard

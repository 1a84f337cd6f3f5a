// The JSON text the data path writes by hand (core/json_text.hpp).
#include "core/json_text.hpp"

#include <gtest/gtest.h>

#include <charconv>
#include <cmath>
#include <random>

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

TEST(JsonText, FixedWritesTheDigitsPrintfWould) {
  EXPECT_EQ(fixed(0, 8), "0.00000000");
  EXPECT_EQ(fixed(0.00012, 8), "0.00012000");
  EXPECT_EQ(fixed(1.5, 0), "2");
  EXPECT_EQ(fixed(12.345678, 2), "12.35");
  EXPECT_EQ(fixed(-0.25, 1), exact(-0.25, 1));
  EXPECT_EQ(fixed(-0.000000001, 2), "0.00");  // printf would keep the sign: "-0.00"
  EXPECT_EQ(fixed(1e300, 2), exact(1e300, 2));  // too large to scale: the exact path
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

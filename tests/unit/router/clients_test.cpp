// Client accounts: per-minute rate limits, budgets per UTC day and month, and what admit()
// answers when one is spent. No socket and no sleeping: every call is given its time.
#include "router/clients.hpp"

#include <gtest/gtest.h>
#include <prometheus/metric_family.h>

#include <chrono>
#include <limits>

namespace switchyard::test {
namespace {

using namespace std::chrono;
using namespace std::chrono_literals;

// 2026-03-31 23:00:00 UTC: one hour before both a new day and a new month.
const WallTime kLateEvening = sys_days(2026y / March / 31) + 23h;

Instant at(nanoseconds since_start, WallTime wall = kLateEvening) {
  return {SteadyTime(1h + since_start), wall + duration_cast<system_clock::duration>(since_start)};
}

TEST(RateLimit, AllowsAMinutesWorthThenSpreadsTheRest) {
  RateLimit r;
  const SteadyTime t0(1h);
  for (int i = 0; i < 60; ++i) ASSERT_EQ(r.take(60, 1, t0).count(), 0) << i;
  EXPECT_EQ(r.take(60, 1, t0), 1s);  // one a second from here on
  EXPECT_EQ(r.take(60, 1, t0 + 999ms), 1ms);
  EXPECT_EQ(r.take(60, 1, t0 + 1s).count(), 0);
  EXPECT_GT(r.take(60, 1, t0 + 1s).count(), 0);
}

TEST(RateLimit, ARequestLargerThanTheLimitFitsAnEmptyBucket) {
  RateLimit r;
  const SteadyTime t0(1h);
  EXPECT_EQ(r.take(1000, 5000, t0).count(), 0);
  EXPECT_EQ(r.take(1000, 1, t0), 60ms);
  r.adjust(1000, -1000);  // it used a thousand fewer than taken
  EXPECT_EQ(r.take(1000, 1, t0).count(), 0);
}

TEST(RateLimit, AnAdjustmentKeepsALongAnswersDebtButNeverWraps) {
  // One token a minute: each costs 60 s of the bucket's clock.
  const SteadyTime t0(1h);
  RateLimit debt;
  ASSERT_EQ(debt.take(1, 1, t0).count(), 0);
  debt.adjust(1, 4);  // it used five: four more minutes before the next
  EXPECT_EQ(debt.take(1, 1, t0), 5min);
  // An upstream that reports 2^62 tokens more (or fewer) than taken must not wrap the clock.
  RateLimit more;
  ASSERT_EQ(more.take(1, 1, t0).count(), 0);
  more.adjust(1, std::numeric_limits<std::int64_t>::max() / 2);
  EXPECT_EQ(more.take(1, 1, t0), 24h * 30 + 60s);  // thirty days' worth, not centuries
  RateLimit fewer;
  ASSERT_EQ(fewer.take(1, 1, t0).count(), 0);
  fewer.adjust(1, std::numeric_limits<std::int64_t>::min() / 2);
  EXPECT_EQ(fewer.take(1, 1, t0).count(), 0);  // the token given back
  EXPECT_EQ(fewer.take(1, 1, t0), 60s);        // and no more: the limit still holds
}

TEST(PeriodSpend, StartsFromZeroInANewPeriod) {
  PeriodSpend s;
  s.add(7, 0.25);
  s.add(7, 0.5);
  s.add(7, -3);  // ignored
  EXPECT_DOUBLE_EQ(s.spent(7), 0.75);
  EXPECT_EQ(s.spent(8), 0);
  s.add(8, 0.00000123);
  EXPECT_NEAR(s.spent(8), 0.00000123, 1e-12);
  EXPECT_EQ(s.spent(7), 0);
}

class Account : public ::testing::Test {
 protected:
  ClientConfig limits_ = [] {
    ClientConfig c;
    c.name = "team";
    return c;
  }();
  MemoryLedger ledger_;
  ClientAccount& account_ = ledger_.account("team");
};

TEST_F(Account, ADailyBudgetRefusesUntilMidnight) {
  limits_.budget_usd_per_day = 1;
  ASSERT_TRUE(account_.admit(limits_, at(0s), 10));
  account_.charge(limits_, at(1s), 0.6, 100, 10);
  ASSERT_TRUE(account_.admit(limits_, at(2s), 10));  // 0.6 spent: under
  account_.charge(limits_, at(3s), 0.5, 100, 10);
  auto refused = account_.admit(limits_, at(4s), 10);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().status, 429);
  EXPECT_EQ(refused.error().code, "budget_exceeded");
  EXPECT_EQ(refused.error().retry_after_ms, 3596000u);  // 23:00:04 → midnight
  EXPECT_NE(refused.error().message.find("daily budget of 1 USD"), std::string::npos);
  EXPECT_NEAR(account_.spent(at(4s).wall).day_usd, 1.1, 1e-9);
  EXPECT_TRUE(account_.admit(limits_, at(1h), 10));  // a new day
  EXPECT_EQ(account_.spent(at(1h).wall).day_usd, 0);
}

TEST_F(Account, AMonthlyBudgetOutlivesTheDay) {
  limits_.budget_usd_per_month = 2;
  account_.charge(limits_, at(0s, kLateEvening - days(20)), 1.5, 0, 0);
  account_.charge(limits_, at(0s), 0.5, 0, 0);
  EXPECT_NEAR(account_.spent(kLateEvening).month_usd, 2.0, 1e-9);
  EXPECT_NEAR(account_.spent(kLateEvening).day_usd, 0.5, 1e-9);
  auto refused = account_.admit(limits_, at(0s), 1);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().retry_after_ms, 3600000u);  // April 1st, 00:00
  EXPECT_TRUE(account_.admit(limits_, at(1h), 1));
}

TEST_F(Account, RequestsPerMinute) {
  limits_.requests_per_minute = 2;
  EXPECT_TRUE(account_.admit(limits_, at(0s), 1));
  EXPECT_TRUE(account_.admit(limits_, at(0s), 1));
  auto refused = account_.admit(limits_, at(0s), 1);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, "rate_limit_exceeded");
  EXPECT_EQ(refused.error().retry_after_ms, 30000u);
  EXPECT_TRUE(account_.admit(limits_, at(30s), 1));
}

TEST_F(Account, TokensPerMinuteCountWhatWasReallyUsed) {
  limits_.tokens_per_minute = 1000;
  limits_.requests_per_minute = 100;
  ASSERT_TRUE(account_.admit(limits_, at(0s), 600));
  EXPECT_FALSE(account_.admit(limits_, at(0s), 600));  // 1200 > 1000
  account_.charge(limits_, at(0s), 0, 100, 600);                 // it used 100, not 600
  EXPECT_TRUE(account_.admit(limits_, at(0s), 600));    // 700
  account_.charge(limits_, at(0s), 0, 900, 600);                 // 1000
  EXPECT_FALSE(account_.admit(limits_, at(0s), 1));
  // A request the token limit refused did not use up a request slot.
  limits_.tokens_per_minute = 0;
  for (int i = 0; i < 98; ++i) ASSERT_TRUE(account_.admit(limits_, at(0s), 1)) << i;
  EXPECT_FALSE(account_.admit(limits_, at(0s), 1));
}

TEST_F(Account, MetricsShowSpendAndRefusals) {
  limits_.budget_usd_per_day = 0.5;
  ASSERT_TRUE(account_.admit(limits_, {SteadyTime(1h), system_clock::now()}, 1));
  account_.charge(limits_, {SteadyTime(1h), system_clock::now()}, 0.75, 10, 1);
  ASSERT_FALSE(account_.admit(limits_, {SteadyTime(1h), system_clock::now()}, 1));
  auto families = ledger_.Collect();
  auto value = [&](const std::string& family, const std::string& label) {
    for (const auto& f : families)
      if (f.name == family)
        for (const auto& m : f.metric)
          if (m.label.size() == 2 && m.label[0].value == "team" && m.label[1].value == label)
            return f.type == prometheus::MetricType::Counter ? m.counter.value : m.gauge.value;
    return -1.0;
  };
  EXPECT_EQ(value("switchyard_client_requests_total", "admitted"), 1);
  EXPECT_EQ(value("switchyard_client_requests_total", "over_budget"), 1);
  EXPECT_EQ(value("switchyard_client_requests_total", "rate_limited"), 0);
  EXPECT_DOUBLE_EQ(value("switchyard_client_spend_usd", "day"), 0.75);
  EXPECT_DOUBLE_EQ(value("switchyard_client_budget_usd", "day"), 0.5);
  EXPECT_DOUBLE_EQ(value("switchyard_client_budget_usd", "month"), 0);
}

}  // namespace
}  // namespace switchyard::test

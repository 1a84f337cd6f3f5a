#include "router/clients.hpp"

#include "metrics/metrics.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>

namespace switchyard {

namespace {

using std::chrono::nanoseconds;
constexpr std::int64_t kMinuteNs = 60'000'000'000;

std::int64_t ns_per_unit(std::uint64_t limit) {
  return std::max<std::int64_t>(1, kMinuteNs / static_cast<std::int64_t>(limit));
}

// UTC day and month numbers of `t`, and when each ends.
struct Calendar {
  std::uint32_t day = 0;
  std::uint32_t month = 0;
  WallTime day_end;
  WallTime month_end;
};

Calendar calendar(WallTime t) {
  using namespace std::chrono;
  const auto d = floor<days>(t);
  const year_month_day ymd(d);
  Calendar c;
  c.day = static_cast<std::uint32_t>(d.time_since_epoch().count());
  c.month = static_cast<std::uint32_t>(static_cast<int>(ymd.year()) * 12 +
                                       static_cast<int>(static_cast<unsigned>(ymd.month())) - 1);
  c.day_end = d + days(1);
  c.month_end = sys_days((ymd.year() / ymd.month() / 1) + months(1));
  return c;
}

std::uint32_t ms_until(WallTime from, WallTime to) {
  const auto ms = std::chrono::ceil<std::chrono::milliseconds>(to - from).count();
  return static_cast<std::uint32_t>(std::clamp<long long>(ms, 1, UINT32_MAX));
}

Error refuse(std::string code, std::string message, std::uint32_t retry_after_ms) {
  Error e = make_error(Reason::too_many_requests, std::move(message));
  e.code = std::move(code);
  e.retry_after_ms = retry_after_ms;
  return e;
}

}  // namespace

nanoseconds RateLimit::take(std::uint64_t limit, std::uint64_t units, SteadyTime now,
                           std::uint64_t others) noexcept {
  const std::int64_t per_unit = ns_per_unit(limit);
  const std::int64_t t = std::chrono::duration_cast<nanoseconds>(now.time_since_epoch()).count();
  const auto cost = per_unit * static_cast<std::int64_t>(std::min(units, limit));
  const auto held = per_unit * static_cast<std::int64_t>(std::min(others, limit));
  std::int64_t until = full_until_.load(std::memory_order_relaxed);
  for (;;) {
    const std::int64_t next = std::max(until, t) + cost;
    if (next - t + held > kMinuteNs) return nanoseconds(next - t + held - kMinuteNs);
    if (full_until_.compare_exchange_weak(until, next, std::memory_order_relaxed)) return {};
  }
}

void RateLimit::adjust(std::uint64_t limit, std::int64_t units) noexcept {
  // At most 30 days' worth either way: a long answer's debt is kept, but a count an upstream
  // makes up (2^62 tokens) must not wrap the clock.
  constexpr std::int64_t kMonthNs = 30 * 24 * 60 * kMinuteNs;
  const std::int64_t per_unit = ns_per_unit(limit), most = kMonthNs / per_unit;
  full_until_.fetch_add(per_unit * std::clamp(units, -most, most), std::memory_order_relaxed);
}

namespace {
constexpr int kAmountBits = 48;  // 2.8M USD a period in units of 1e-8 USD
constexpr std::uint64_t kAmountMask = (std::uint64_t{1} << kAmountBits) - 1;
constexpr double kUnitsPerUsd = 1e8;
// Only equality of periods matters, so their low 16 bits do (they repeat after 179 years).
std::uint64_t tag(std::uint32_t period) { return std::uint64_t{period & 0xffffu} << kAmountBits; }
}  // namespace

void PeriodSpend::add(std::uint32_t period, double usd) noexcept {
  if (!(usd > 0)) return;
  const auto units = static_cast<std::uint64_t>(std::min(std::llround(usd * kUnitsPerUsd),
                                                         static_cast<long long>(kAmountMask)));
  std::uint64_t word = word_.load(std::memory_order_relaxed);
  for (;;) {
    const std::uint64_t held = (word & ~kAmountMask) == tag(period) ? word & kAmountMask : 0;
    const std::uint64_t next = tag(period) | std::min(held + units, kAmountMask);
    if (word_.compare_exchange_weak(word, next, std::memory_order_relaxed)) return;
  }
}

double PeriodSpend::spent(std::uint32_t period) const noexcept {
  const std::uint64_t word = word_.load(std::memory_order_relaxed);
  if ((word & ~kAmountMask) != tag(period)) return 0;
  return static_cast<double>(word & kAmountMask) / kUnitsPerUsd;
}

class MemoryLedger::Account final : public ClientAccount {
 public:
  Result<void> admit(const ClientConfig& c, Instant now, std::uint64_t tokens) override {
    budget_day_.store(c.budget_usd_per_day, std::memory_order_relaxed);
    budget_month_.store(c.budget_usd_per_month, std::memory_order_relaxed);
    const Calendar cal = calendar(now.wall);
    if (c.budget_usd_per_day > 0 &&
        day_.spent(cal.day) + others_spent(others.day, others.day_usd, cal.day) >=
            c.budget_usd_per_day) {
      ++refused_budget_;
      return refuse("budget_exceeded",
                    fmt::format("The key '{}' has spent its daily budget of {} USD; it renews "
                                "at 00:00 UTC.",
                                c.name, c.budget_usd_per_day),
                    ms_until(now.wall, cal.day_end));
    }
    if (c.budget_usd_per_month > 0 &&
        month_.spent(cal.month) + others_spent(others.month, others.month_usd, cal.month) >=
            c.budget_usd_per_month) {
      ++refused_budget_;
      return refuse("budget_exceeded",
                    fmt::format("The key '{}' has spent its monthly budget of {} USD; it renews "
                                "on the 1st at 00:00 UTC.",
                                c.name, c.budget_usd_per_month),
                    ms_until(now.wall, cal.month_end));
    }
    if (c.requests_per_minute > 0) {
      const auto held = others.requests.load(std::memory_order_relaxed);
      if (auto wait = requests_.take(c.requests_per_minute, 1, now.steady, held);
          wait.count() > 0) {
        ++refused_rate_;
        return refuse("rate_limit_exceeded",
                      fmt::format("The key '{}' is over its limit of {} requests per minute.",
                                  c.name, c.requests_per_minute),
                      ms_of(wait));
      }
    }
    if (c.tokens_per_minute > 0) {
      const auto held = others.tokens.load(std::memory_order_relaxed);
      if (auto wait = tokens_.take(c.tokens_per_minute, tokens, now.steady, held);
          wait.count() > 0) {
        if (c.requests_per_minute > 0) requests_.adjust(c.requests_per_minute, -1);
        ++refused_rate_;
        return refuse("rate_limit_exceeded",
                      fmt::format("The key '{}' is over its limit of {} tokens per minute.",
                                  c.name, c.tokens_per_minute),
                      ms_of(wait));
      }
    }
    ++admitted_;
    tokens_used_.fetch_add(static_cast<std::int64_t>(tokens), std::memory_order_relaxed);
    return {};
  }

  void charge(const ClientConfig& c, Instant now, double usd, std::uint64_t tokens,
              std::uint64_t estimated) noexcept override {
    const Calendar cal = calendar(now.wall);
    day_.add(cal.day, usd);
    month_.add(cal.month, usd);
    tokens_used_.fetch_add(static_cast<std::int64_t>(tokens) - static_cast<std::int64_t>(estimated),
                           std::memory_order_relaxed);
    if (c.tokens_per_minute > 0)
      tokens_.adjust(c.tokens_per_minute,
                     static_cast<std::int64_t>(tokens) - static_cast<std::int64_t>(estimated));
  }

  Spend spent(WallTime now) const noexcept override {
    const Calendar cal = calendar(now);
    return {day_.spent(cal.day), month_.spent(cal.month)};
  }

  OwnUse own(WallTime now) const noexcept {
    const Calendar cal = calendar(now);
    return {admitted_.load(std::memory_order_relaxed), tokens_used_.load(std::memory_order_relaxed),
            cal.day, cal.month, day_.spent(cal.day), month_.spent(cal.month)};
  }

  std::atomic<std::uint64_t> admitted_{0}, refused_rate_{0}, refused_budget_{0};
  std::atomic<std::int64_t> tokens_used_{0};
  std::atomic<double> budget_day_{0}, budget_month_{0};
  OthersUse others;

 private:
  // What the other replicas spent in `period`, if the store's figure is for that period.
  static double others_spent(const std::atomic<std::uint32_t>& their_period,
                             const std::atomic<double>& usd, std::uint32_t period) noexcept {
    return their_period.load(std::memory_order_relaxed) == period
               ? usd.load(std::memory_order_relaxed)
               : 0;
  }

  static std::uint32_t ms_of(nanoseconds wait) {
    return static_cast<std::uint32_t>(
        std::max<long long>(1, std::chrono::ceil<std::chrono::milliseconds>(wait).count()));
  }

  RateLimit requests_, tokens_;
  PeriodSpend day_, month_;
};

MemoryLedger::MemoryLedger() = default;
MemoryLedger::~MemoryLedger() = default;

ClientAccount& MemoryLedger::account(const std::string& name) {
  std::lock_guard lock(mutex_);
  auto& a = accounts_[name];
  if (!a) a = std::make_unique<Account>();
  return *a;
}

void MemoryLedger::visit_accounts(
    WallTime now,
    const std::function<void(const std::string&, const OwnUse&, OthersUse&)>& visit) {
  std::lock_guard lock(mutex_);
  for (auto& [name, account] : accounts_) visit(name, account->own(now), account->others);
}

std::vector<prometheus::MetricFamily> MemoryLedger::Collect() const {
  using prometheus::MetricType;
  constexpr auto family = make_family;
  auto requests = family("switchyard_client_requests_total",
                         "Requests per client key: admitted, or refused by a rate limit or budget",
                         MetricType::Counter);
  auto spend = family("switchyard_client_spend_usd",
                      "USD a client key has spent in the current UTC day or month",
                      MetricType::Gauge);
  auto budget = family("switchyard_client_budget_usd",
                       "A client key's budget per UTC day or month; 0 is none", MetricType::Gauge);
  const WallTime now = std::chrono::system_clock::now();
  std::lock_guard lock(mutex_);
  for (const auto& entry : accounts_) {
    const std::string& name = entry.first;  // clang 14 lambdas cannot capture bindings
    const Account* a = entry.second.get();
    auto add = [&](prometheus::MetricFamily& f, const char* label, const char* value, double v) {
      add_sample(f, {{"client", name}, {label, value}}, v);
    };
    add(requests, "outcome", "admitted", static_cast<double>(a->admitted_.load()));
    add(requests, "outcome", "rate_limited", static_cast<double>(a->refused_rate_.load()));
    add(requests, "outcome", "over_budget", static_cast<double>(a->refused_budget_.load()));
    const Spend s = a->spent(now);
    add(spend, "period", "day", s.day_usd);
    add(spend, "period", "month", s.month_usd);
    add(budget, "period", "day", a->budget_day_.load());
    add(budget, "period", "month", a->budget_month_.load());
  }
  return {std::move(requests), std::move(spend), std::move(budget)};
}

}  // namespace switchyard

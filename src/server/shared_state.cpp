#include "server/shared_state.hpp"

#include "core/log_limiter.hpp"
#include "metrics/metrics.hpp"
#include "store/redis.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace switchyard {

namespace {

constexpr int kMinuteTtlS = 180;           // a minute bucket outlives the next minute
constexpr int kDayTtlS = 3 * 86'400;       // a day's spend, past the day
constexpr int kMonthTtlS = 40 * 86'400;    // a month's spend, past the month

// What one replica has sent for one key, to send only what is new, and its own share of the
// minute buckets, to tell the others' share from the total.
struct Sent {
  OwnUse use;  // as of the last successful pass
  long long minute = 0;
  std::int64_t requests_now = 0, requests_before = 0;  // this minute's and the previous one's
  std::int64_t tokens_now = 0, tokens_before = 0;
};

long long as_integer(const RedisReply& r) {
  if (r.type == RedisReply::Type::integer) return r.integer;
  if (r.type == RedisReply::Type::string) return std::atoll(r.text.c_str());
  return 0;
}

double as_number(const RedisReply& r) {
  if (r.type == RedisReply::Type::string) return std::atof(r.text.c_str());
  return static_cast<double>(as_integer(r));
}

// Last minute's use under a sliding window: all of this minute, and the share of the previous
// one that the window still covers.
std::uint64_t windowed(long long now, long long before, double into_minute) {
  const double v = static_cast<double>(now) + static_cast<double>(before) * (1 - into_minute);
  return v > 0 ? static_cast<std::uint64_t>(std::llround(v)) : 0;
}

}  // namespace

struct SharedState::Exchange {
  Exchange(const RedisConfig& c, MemoryLedger& l, Metrics& m)
      : config(c), redis(c), ledger(l), metrics(m) {}

  // One pass: every key's new use out, the totals back. Returns whether Redis answered.
  bool pass(WallTime now) {
    using namespace std::chrono;
    const auto since_epoch = duration_cast<milliseconds>(now.time_since_epoch()).count();
    const long long minute = since_epoch / 60'000;
    const double into_minute = static_cast<double>(since_epoch % 60'000) / 60'000;

    struct Item {
      std::string name;
      OwnUse own;
      OthersUse* others;
    };
    std::vector<Item> items;
    ledger.visit_accounts(now, [&](const std::string& name, const OwnUse& own, OthersUse& o) {
      items.push_back({name, own, &o});
    });
    std::vector<std::vector<std::string>> commands;
    commands.reserve(items.size() * 10);
    std::vector<Sent> next;
    next.reserve(items.size());
    for (const auto& item : items) {
      Sent s = sent[item.name];
      if (s.minute != minute) {  // a new minute: shift this replica's share of the window
        const bool adjacent = s.minute == minute - 1;
        s.requests_before = adjacent ? s.requests_now : 0;
        s.tokens_before = adjacent ? s.tokens_now : 0;
        s.requests_now = s.tokens_now = 0;
        s.minute = minute;
      }
      if (s.use.day != item.own.day) s.use.day_usd = 0;  // a new day's key starts from zero
      if (s.use.month != item.own.month) s.use.month_usd = 0;
      const auto requests = static_cast<std::int64_t>(item.own.requests - s.use.requests);
      const std::int64_t tokens = item.own.tokens - s.use.tokens;
      const double day_usd = item.own.day_usd - s.use.day_usd;
      const double month_usd = item.own.month_usd - s.use.month_usd;
      s.use = item.own;
      s.requests_now += requests;
      s.tokens_now += tokens;
      next.push_back(s);

      const std::string key = config.key_prefix + ":client:" + item.name;
      const std::string rpm = key + ":requests:" + std::to_string(minute);
      const std::string tpm = key + ":tokens:" + std::to_string(minute);
      const std::string day = key + ":usd:day:" + std::to_string(item.own.day);
      const std::string month = key + ":usd:month:" + std::to_string(item.own.month);
      commands.push_back({"INCRBY", rpm, std::to_string(requests)});
      commands.push_back({"EXPIRE", rpm, std::to_string(kMinuteTtlS)});
      commands.push_back({"GET", key + ":requests:" + std::to_string(minute - 1)});
      commands.push_back({"INCRBY", tpm, std::to_string(tokens)});
      commands.push_back({"EXPIRE", tpm, std::to_string(kMinuteTtlS)});
      commands.push_back({"GET", key + ":tokens:" + std::to_string(minute - 1)});
      commands.push_back({"INCRBYFLOAT", day, fmt::format("{:.8f}", day_usd)});
      commands.push_back({"EXPIRE", day, std::to_string(kDayTtlS)});
      commands.push_back({"INCRBYFLOAT", month, fmt::format("{:.8f}", month_usd)});
      commands.push_back({"EXPIRE", month, std::to_string(kMonthTtlS)});
    }

    if (commands.empty()) commands.push_back({"PING"});  // no keys yet: is it there at all?
    auto replies = redis.pipeline(commands);
    if (replies) {
      for (const auto& r : *replies) {
        if (r.type != RedisReply::Type::error) continue;
        replies = make_error(Reason::protocol, "redis: " + r.text);
        break;
      }
    }
    if (!replies) {
      for (const auto& item : items) forget(*item.others);  // serve from our own counts
      metrics.shared_store_up().Set(0);
      metrics.shared_store_errors().Increment();
      if (log.allow())
        spdlog::warn("shared state: {}; serving from this replica's own counts until it answers",
                     replies.error().message);
      up = false;
      return false;
    }
    for (std::size_t i = 0; i < items.size(); ++i) {
      const RedisReply* r = &(*replies)[i * 10];
      const Sent& s = next[i];
      OthersUse& o = *items[i].others;
      const auto all_requests = windowed(as_integer(r[0]), as_integer(r[2]), into_minute);
      const auto own_requests = windowed(s.requests_now, s.requests_before, into_minute);
      const auto all_tokens = windowed(as_integer(r[3]), as_integer(r[5]), into_minute);
      const auto own_tokens = windowed(s.tokens_now, s.tokens_before, into_minute);
      o.requests.store(all_requests > own_requests ? all_requests - own_requests : 0,
                       std::memory_order_relaxed);
      o.tokens.store(all_tokens > own_tokens ? all_tokens - own_tokens : 0,
                     std::memory_order_relaxed);
      o.day.store(s.use.day, std::memory_order_relaxed);
      o.day_usd.store(std::max(0.0, as_number(r[6]) - s.use.day_usd), std::memory_order_relaxed);
      o.month.store(s.use.month, std::memory_order_relaxed);
      o.month_usd.store(std::max(0.0, as_number(r[8]) - s.use.month_usd),
                        std::memory_order_relaxed);
      sent[items[i].name] = s;
    }
    metrics.shared_store_up().Set(1);
    if (!up) spdlog::info("shared state: {}:{} answers again", config.host, config.port);
    up = true;
    return true;
  }

  static void forget(OthersUse& o) {
    o.requests.store(0, std::memory_order_relaxed);
    o.tokens.store(0, std::memory_order_relaxed);
    o.day_usd.store(0, std::memory_order_relaxed);
    o.month_usd.store(0, std::memory_order_relaxed);
  }

  const RedisConfig config;
  RedisConnection redis;
  MemoryLedger& ledger;
  Metrics& metrics;
  std::map<std::string, Sent> sent;
  LogLimiter log{std::chrono::seconds(10)};
  bool up = true;  // as last logged
};

SharedState::SharedState(const RedisConfig& config, MemoryLedger& ledger, Metrics& metrics)
    : exchange_(std::make_unique<Exchange>(config, ledger, metrics)),
      thread_([this, every = std::chrono::milliseconds(config.sync_ms)](
                  const std::stop_token& stop) {
        std::mutex m;
        std::condition_variable_any wake;  // only the stop request wakes it early
        while (!stop.stop_requested()) {
          exchange_->pass(std::chrono::system_clock::now());
          std::unique_lock lock(m);
          wake.wait_for(lock, stop, every, [] { return false; });
        }
      }) {}

SharedState::~SharedState() = default;

}  // namespace switchyard

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
#include <random>
#include <string>
#include <vector>

#include <unistd.h>

namespace switchyard {

namespace {

constexpr int kMinuteTtlS = 180;         // a minute's hash outlives the next minute
constexpr int kDayTtlS = 3 * 86'400;     // a day's spend, past the day
constexpr int kMonthTtlS = 40 * 86'400;  // a month's spend, past the month
constexpr std::size_t kPerAccount = 14;  // commands per account and pass (see pass())

// A name for this process among the replicas: its host, its PID and a random part.
std::string replica_id() {
  char host[256] = {};
  ::gethostname(host, sizeof(host) - 1);
  return fmt::format("{}:{}:{:08x}", host, ::getpid(), std::random_device{}());
}

// The sum of an HGETALL's values but `self`'s.
double others_sum(const RedisReply& r, const std::string& self) {
  double sum = 0;
  for (std::size_t i = 0; i + 1 < r.items.size(); i += 2)
    if (r.items[i] != self) sum += std::atof(r.items[i + 1].c_str());
  return sum;
}

// This replica's use in the current minute, from its totals at the minute's first pass (what it
// admitted between the last pass of a minute and the first of the next counts in neither: at
// most sync_ms of a minute).
struct MinuteBase {
  long long minute = -1;
  std::uint64_t requests = 0;
  std::int64_t tokens = 0;
};

}  // namespace

struct SharedState::Exchange {
  Exchange(const RedisConfig& c, MemoryLedger& l, Metrics& m)
      : config(c), redis(c), ledger(l), metrics(m) {}

  // One pass: every key's own use in the current minute, day and month out (HSET of this
  // replica's field: sending it twice changes nothing), every other replica's back.
  void pass(WallTime now) {
    using namespace std::chrono;
    const auto since_epoch = duration_cast<milliseconds>(now.time_since_epoch()).count();
    const long long minute = since_epoch / 60'000;
    const double into_minute = static_cast<double>(since_epoch % 60'000) / 60'000;

    struct Item {
      OwnUse own;
      OthersUse* others;
    };
    std::vector<Item> items;
    std::vector<std::vector<std::string>> commands;
    ledger.visit_accounts(now, [&](const std::string& name, const OwnUse& own, OthersUse& o) {
      MinuteBase& base = bases[name];
      if (base.minute != minute) base = {minute, own.requests, own.tokens};
      items.push_back({own, &o});
      const std::string key = config.key_prefix + ":client:" + name;
      const std::string rpm = key + ":requests:" + std::to_string(minute);
      const std::string tpm = key + ":tokens:" + std::to_string(minute);
      const std::string day = key + ":usd:day:" + std::to_string(own.day);
      const std::string month = key + ":usd:month:" + std::to_string(own.month);
      // Per account, kPerAccount commands: [0..2] this minute's requests, [3] the last minute's;
      // [4..6] and [7] the same for tokens; [8..10] the day's USD; [11..13] the month's.
      const auto put = [&](const std::string& k, std::string v, int ttl_s) {
        commands.push_back({"HSET", k, id, std::move(v)});
        commands.push_back({"EXPIRE", k, std::to_string(ttl_s)});
        commands.push_back({"HGETALL", k});
      };
      put(rpm, std::to_string(own.requests - base.requests), kMinuteTtlS);
      commands.push_back({"HGETALL", key + ":requests:" + std::to_string(minute - 1)});
      put(tpm, std::to_string(own.tokens - base.tokens), kMinuteTtlS);
      commands.push_back({"HGETALL", key + ":tokens:" + std::to_string(minute - 1)});
      put(day, fmt::format("{:.8f}", own.day_usd), kDayTtlS);
      put(month, fmt::format("{:.8f}", own.month_usd), kMonthTtlS);
    });
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
      return;
    }
    for (std::size_t i = 0; i < items.size(); ++i) {
      const RedisReply* r = &(*replies)[i * kPerAccount];
      OthersUse& o = *items[i].others;
      // The last minute, sliding: all of this one, and the share of the previous one the
      // window still covers. Negative entries are token corrections.
      const auto windowed = [&](const RedisReply& now_r, const RedisReply& before_r) {
        const double v = others_sum(now_r, id) + others_sum(before_r, id) * (1 - into_minute);
        return v > 0 ? static_cast<std::uint64_t>(std::llround(v)) : std::uint64_t{0};
      };
      o.requests.store(windowed(r[2], r[3]), std::memory_order_relaxed);
      o.tokens.store(windowed(r[6], r[7]), std::memory_order_relaxed);
      o.day.store(items[i].own.day, std::memory_order_relaxed);
      o.day_usd.store(std::max(0.0, others_sum(r[10], id)), std::memory_order_relaxed);
      o.month.store(items[i].own.month, std::memory_order_relaxed);
      o.month_usd.store(std::max(0.0, others_sum(r[13], id)), std::memory_order_relaxed);
    }
    metrics.shared_store_up().Set(1);
    if (!up) spdlog::info("shared state: {}:{} answers again", config.host, config.port);
    up = true;
  }

  static void forget(OthersUse& o) {
    o.requests.store(0, std::memory_order_relaxed);
    o.tokens.store(0, std::memory_order_relaxed);
    o.day_usd.store(0, std::memory_order_relaxed);
    o.month_usd.store(0, std::memory_order_relaxed);
  }

  const RedisConfig config;
  const std::string id = replica_id();
  RedisConnection redis;
  MemoryLedger& ledger;
  Metrics& metrics;
  std::map<std::string, MinuteBase> bases;  // by client name
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
        exchange_->pass(std::chrono::system_clock::now());  // what the drain spent, too
      }) {}

SharedState::~SharedState() = default;

}  // namespace switchyard

#include "server/shared_state.hpp"

#include "core/log_limiter.hpp"
#include "metrics/metrics.hpp"
#include "router/cache/caches.hpp"
#include "router/registry.hpp"
#include "store/redis.hpp"
#include "switchyard/clock.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <unistd.h>

namespace switchyard {

namespace {

constexpr int kMinuteTtlS = 180;         // a minute's hash outlives the next minute
constexpr int kDayTtlS = 3 * 86'400;     // a day's spend, past the day
constexpr int kMonthTtlS = 40 * 86'400;  // a month's spend, past the month
constexpr std::size_t kPerAccount = 14;  // commands per account and pass (see pass())
constexpr int kBreakersTtlS = 3600;      // the breakers' hash, after the last opening told
constexpr std::size_t kCacheReadCount = 64;  // cached answers read per round trip
constexpr int kCacheRounds = 8;              // extra round trips per pass, while there are more
// The furthest ahead a time read from Redis may lie: another replica's clock or a corrupt value
// must not hold a breaker open, or an answer, for longer (nor overflow a time).
constexpr long long kMaxOpeningMs = 15 * 60'000;
constexpr long long kMaxCacheTtlMs = 7 * 86'400'000LL;
constexpr char kSep = '\x1f';            // between the names in a breaker's field

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
    if (r.items[i].text != self) sum += std::atof(r.items[i + 1].text.c_str());
  return sum;
}

// This replica's use in the current minute: its totals less those the minute started from. A
// minute starts from the totals the last pass of the one before sent, so that what was admitted
// between that pass and the next minute's first counts in the new minute, not in neither.
struct MinuteBase {
  long long minute = -1;
  std::uint64_t requests = 0;
  std::int64_t tokens = 0;
  // The totals as the last pass sent them, or tried to: what a replica admits while Redis is
  // down is lost to the others if a minute ends meanwhile.
  std::uint64_t sent_requests = 0;
  std::int64_t sent_tokens = 0;
};

}  // namespace

struct SharedState::Exchange {
  Exchange(const RedisConfig& c, MemoryLedger& l, TargetRegistry& t, ResponseCaches& rc,
           Metrics& m)
      : config(c), redis(c), ledger(l), targets(t), caches(rc), metrics(m) {
    caches.share();
  }

  // The moment of a pass on both clocks: Redis holds wall times (replicas' steady clocks have
  // nothing in common), this process's breakers and caches steady ones.
  struct Now {
    WallTime wall;
    SteadyTime steady;
    long long wall_ms() const {
      using namespace std::chrono;
      return duration_cast<milliseconds>(wall.time_since_epoch()).count();
    }
    long long wall_ms(SteadyTime t) const {
      using namespace std::chrono;
      return wall_ms() + duration_cast<milliseconds>(t - steady).count();
    }
    SteadyTime steady_at(long long ms) const {
      return steady + std::chrono::milliseconds(ms - wall_ms());
    }
    // A wall time in ms read from Redis, if it lies after now by at most `max_ahead` (a later
    // one is cut to that); nullopt for a past time or anything not a number.
    std::optional<long long> within(const std::string& text, long long max_ahead) const {
      long long ms = 0;
      const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), ms);
      if (ec != std::errc() || end != text.data() + text.size() || ms <= wall_ms())
        return std::nullopt;
      return std::min(ms, wall_ms() + max_ahead);
    }
  };

  struct Item {
    OwnUse own;
    OthersUse* others;
  };

  // One pass, one round trip: every client key's use, this replica's breaker openings and the
  // answers it cached go out; the other replicas' come back.
  void pass(WallTime wall) {
    const Now now{wall, system_clock().now()};
    std::vector<std::vector<std::string>> commands;
    const std::vector<Item> items = put_accounts(now, commands);
    const std::size_t breakers_at = commands.size();
    put_breakers(now, commands);  // ends with the HGETALL of every replica's openings
    const std::size_t answers_at = commands.size();
    put_answers(now, commands);  // ends with the XRANGE of the answers after the last read
    auto replies = redis.pipeline(commands);
    // An error reply fails the limits' part, which must not half apply; the breakers' and the
    // cache's parts are skipped alone (a Redis older than 6.2 refuses XADD MINID, say).
    const auto error_in = [&](std::size_t from, std::size_t to) -> const RedisReply* {
      for (std::size_t i = from; i < to; ++i)
        if ((*replies)[i].type == RedisReply::Type::error) return &(*replies)[i];
      return nullptr;
    };
    if (replies) {
      if (const RedisReply* e = error_in(0, breakers_at))
        replies = make_error(Reason::protocol, "redis: " + e->text);
    }
    if (!replies) {
      for (const auto& item : items) forget(*item.others);  // serve from our own counts
      metrics.shared_store_up().Set(0);
      metrics.shared_store_errors().Increment();
      if (log.allow())
        spdlog::warn("shared state: {}; serving from this replica's own state until it answers",
                     replies.error().message);
      up = false;
      return;
    }
    get_accounts(now, items, *replies);
    const RedisReply* breakers_error = error_in(breakers_at, answers_at);
    if (!breakers_error) {
      told = std::move(telling);
      get_breakers(now, (*replies)[answers_at - 1]);
    }
    // The answers read, even when Redis refused what this replica wrote.
    const RedisReply* answers_error = error_in(answers_at, replies->size());
    if (replies->back().type == RedisReply::Type::array) catch_up(now, replies->back());
    else if (replies->back().type == RedisReply::Type::error) last_read.clear();  // a refused id
    if (const RedisReply* e = breakers_error ? breakers_error : answers_error) {
      metrics.shared_store_errors().Increment();
      if (log.allow()) spdlog::warn("shared state: redis refused a command: {}", e->text);
    }
    metrics.shared_store_up().Set(1);
    if (!up) spdlog::info("shared state: {}:{} answers again", config.host, config.port);
    up = true;
  }

  // Reads the answers other replicas cached from `first` (the pass's XRANGE), then more, a
  // round trip each, while the stream has them: a replica that starts or fell behind catches
  // up within a few passes.
  void catch_up(const Now& now, const RedisReply& first) {
    const RedisReply* entries = &first;
    Result<std::vector<RedisReply>> more = std::vector<RedisReply>();
    for (int round = 0;; ++round) {
      get_answers(now, *entries);
      if (entries->items.size() < kCacheReadCount || round == kCacheRounds) return;
      more = redis.pipeline({read_answers()});
      if (!more || more->front().type != RedisReply::Type::array) return;
      entries = &more->front();
    }
  }

  // Each key's own use in the current minute, day and month out (HSET of this replica's field:
  // sending it twice changes nothing), every other replica's back: kPerAccount commands each.
  std::vector<Item> put_accounts(const Now& now, std::vector<std::vector<std::string>>& commands) {
    const long long minute = now.wall_ms() / 60'000;
    std::vector<Item> items;
    ledger.visit_accounts(now.wall, [&](const std::string& name, const OwnUse& own, OthersUse& o) {
      MinuteBase& base = bases.try_emplace(name, MinuteBase{minute, own.requests, own.tokens,
                                                            own.requests, own.tokens})
                             .first->second;
      if (base.minute != minute)
        base = {minute, base.sent_requests, base.sent_tokens, own.requests, own.tokens};
      base.sent_requests = own.requests;
      base.sent_tokens = own.tokens;
      items.push_back({own, &o});
      const std::string key = config.key_prefix + ":client:" + name;
      const std::string rpm = key + ":requests:" + std::to_string(minute);
      const std::string tpm = key + ":tokens:" + std::to_string(minute);
      const std::string day = key + ":usd:day:" + std::to_string(own.day);
      const std::string month = key + ":usd:month:" + std::to_string(own.month);
      // [0..2] this minute's requests, [3] the last minute's; [4..6] and [7] the same for
      // tokens; [8..10] the day's USD; [11..13] the month's.
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
    return items;
  }

  void get_accounts(const Now& now, const std::vector<Item>& items,
                    const std::vector<RedisReply>& replies) const {
    const double into_minute = static_cast<double>(now.wall_ms() % 60'000) / 60'000;
    for (std::size_t i = 0; i < items.size(); ++i) {
      const RedisReply* r = &replies[i * kPerAccount];
      OthersUse& o = *items[i].others;
      // The last minute, sliding: all of this one, and the share of the previous one the
      // window still covers. Negative entries are token corrections.
      const auto windowed = [&](const RedisReply& now_r, const RedisReply& before_r) {
        const double v = others_sum(now_r, id) + others_sum(before_r, id) * (1 - into_minute);
        // Another writer's value may be anything (1e300): llround past 2^63 is unspecified.
        return v > 0 ? static_cast<std::uint64_t>(std::llround(std::min(v, 1e15)))
                     : std::uint64_t{0};
      };
      o.requests.store(windowed(r[2], r[3]), std::memory_order_relaxed);
      o.tokens.store(windowed(r[6], r[7]), std::memory_order_relaxed);
      o.day.store(items[i].own.day, std::memory_order_relaxed);
      o.day_usd.store(std::max(0.0, others_sum(r[10], id)), std::memory_order_relaxed);
      o.month.store(items[i].own.month, std::memory_order_relaxed);
      o.month_usd.store(std::max(0.0, others_sum(r[13], id)), std::memory_order_relaxed);
    }
  }

  // The breakers this replica opened itself, each until when (wall ms), in one hash field per
  // (upstream, model, replica); the fields of openings that ended are deleted.
  void put_breakers(const Now& now, std::vector<std::vector<std::string>>& commands) {
    const std::string key = config.key_prefix + ":breakers";
    std::set<std::string> open;
    targets.visit([&](const std::string& upstream, const std::string& model, TargetState& t) {
      const auto until = t.breaker.opened_here_until(now.steady);
      if (!until) return;
      std::string field = upstream + kSep + model + kSep + id;
      commands.push_back({"HSET", key, field, std::to_string(now.wall_ms(*until))});
      open.insert(std::move(field));
    });
    for (const auto& field : told)
      if (!open.count(field)) commands.push_back({"HDEL", key, field});
    if (!open.empty()) commands.push_back({"EXPIRE", key, std::to_string(kBreakersTtlS)});
    telling = std::move(open);  // told, once Redis took it
    commands.push_back({"HGETALL", key});
  }

  // Opens here what other replicas opened, until they said and then this replica's share of
  // jitter more, so that the replicas that adopted an opening do not all probe at once: the
  // one that opened it probes first, and if its probe fails the others adopt the new opening.
  void get_breakers(const Now& now, const RedisReply& all) {
    std::map<std::pair<std::string_view, std::string_view>, long long> opened;  // until, wall ms
    for (std::size_t i = 0; i + 1 < all.items.size(); i += 2) {
      const std::string_view field = all.items[i].text;
      const auto a = field.find(kSep), b = field.rfind(kSep);
      if (a == b || field.substr(b + 1) == id) continue;  // not a field, or our own
      const auto until = now.within(all.items[i + 1].text, kMaxOpeningMs);
      if (!until) continue;
      auto& at = opened[{field.substr(0, a), field.substr(a + 1, b - a - 1)}];
      at = std::max(at, *until);
    }
    if (opened.empty()) return;
    targets.visit([&](const std::string& upstream, const std::string& model, TargetState& t) {
      if (auto it = opened.find({upstream, model}); it != opened.end()) {
        const SteadyTime until = now.steady_at(it->second);
        t.breaker.adopt(until + std::chrono::duration_cast<std::chrono::nanoseconds>(
                                    (until - now.steady) * jitter));
      }
    });
  }

  // The answers this replica's caches kept since the last pass, appended to one stream whose
  // entries older than the longest TTL seen are trimmed; then the entries after the last read.
  void put_answers(const Now& now, std::vector<std::vector<std::string>>& commands) {
    const std::string key = config.key_prefix + ":cache";
    for (auto& a : caches.take()) {
      const long long ttl_ms =
          std::chrono::duration_cast<std::chrono::milliseconds>(a.ttl).count();
      longest_ttl_ms = std::max(longest_ttl_ms, ttl_ms);
      commands.push_back({"XADD", key, "MINID", "~",
                          std::to_string(now.wall_ms() - longest_ttl_ms), "*", "replica", id,
                          "route", std::move(a.route), "key", std::move(a.key), "expires",
                          std::to_string(now.wall_ms() + ttl_ms), "answer", encode(*a.answer)});
    }
    commands.push_back(read_answers());
  }

  // The XRANGE of the answers after the last read; from the start of what the stream keeps on
  // the first pass, so that a new replica starts warm.
  std::vector<std::string> read_answers() const {
    return {"XRANGE", config.key_prefix + ":cache", last_read.empty() ? "-" : "(" + last_read, "+",
            "COUNT", std::to_string(kCacheReadCount)};
  }

  // Puts what other replicas cached, and has not expired, into this one's caches.
  void get_answers(const Now& now, const RedisReply& entries) {
    for (const auto& entry : entries.items) {
      if (entry.items.size() != 2) continue;
      last_read = entry.items[0].text;
      std::map<std::string_view, const std::string*> f;
      const auto& fields = entry.items[1].items;
      for (std::size_t i = 0; i + 1 < fields.size(); i += 2)
        f[fields[i].text] = &fields[i + 1].text;
      const auto get = [&](std::string_view name) -> const std::string* {
        auto it = f.find(name);
        return it == f.end() ? nullptr : it->second;
      };
      const std::string *replica = get("replica"), *route = get("route"), *k = get("key"),
                        *expires = get("expires"), *text = get("answer");
      if (!replica || !route || !k || !expires || !text || *replica == id) continue;
      const auto until = now.within(*expires, kMaxCacheTtlMs);
      if (!until) continue;
      auto answer = decode(*text);
      if (!answer) continue;
      caches.adopt(*route, *k, std::make_shared<const CachedAnswer>(std::move(*answer)),
                   now.steady_at(*until), now.steady);
    }
  }

  static void forget(OthersUse& o) {
    o.requests.store(0, std::memory_order_relaxed);
    o.tokens.store(0, std::memory_order_relaxed);
    o.day_usd.store(0, std::memory_order_relaxed);
    o.month_usd.store(0, std::memory_order_relaxed);
  }

  const RedisConfig config;
  const std::string id = replica_id();
  // This replica's delay for adopted openings, as a share of what is left of them: fixed, so
  // that a later pass, with less left, never extends what an earlier one adopted.
  const double jitter = 0.05 + 0.2 * static_cast<double>(std::random_device{}() % 1000) / 1000;
  RedisConnection redis;
  MemoryLedger& ledger;
  TargetRegistry& targets;
  ResponseCaches& caches;
  Metrics& metrics;
  std::map<std::string, MinuteBase> bases;  // by client name
  std::set<std::string> told;               // the breaker fields this replica set
  std::set<std::string> telling;            // those of the pass under way
  long long longest_ttl_ms = 0;             // of the answers put in the stream
  std::string last_read;                    // the id of the last stream entry read
  LogLimiter log{std::chrono::seconds(10)};
  bool up = true;  // as last logged
};

SharedState::SharedState(const RedisConfig& config, MemoryLedger& ledger, TargetRegistry& targets,
                         ResponseCaches& caches, Metrics& metrics)
    : exchange_(std::make_unique<Exchange>(config, ledger, targets, caches, metrics)),
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

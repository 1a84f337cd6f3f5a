// Live state of the upstreams: what every finished call reports, and the running statistics
// per (upstream, model) that scoring, outlier detection and circuit breaking read. Shared by all
// workers and kept across config reloads (the gateway owns it; snapshots point into it).
#pragma once

#include "switchyard/clock.hpp"
#include "switchyard/config.hpp"
#include "switchyard/error.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace switchyard {

struct Target;  // switchyard/router.hpp

// One finished upstream call, as the dispatcher's call() saw it.
struct CallOutcome {
  const Target* target = nullptr;
  bool ok = false;                    // an answer (2xx, or a 4xx any candidate would give)
  Reason reason = Reason::internal;   // when !ok; cancelled when the client or a race gave up
  int status = 0;                     // the upstream's HTTP status, 0 if none
  std::chrono::nanoseconds latency{0};               // the whole call
  std::chrono::nanoseconds time_to_first_token{-1};  // -1: no answer
  std::uint64_t input_tokens = 0;
  std::uint64_t output_tokens = 0;
  std::uint32_t retry_after_ms = 0;  // the upstream's retry-after(-ms), 0 if it sent none
  SteadyTime finished{};  // by the request's Clock
};

// Receives every finished call. Called on the worker that made the call, by many workers at once;
// must not block (a remote store such as Redis queues and sends from its own thread) and must not
// throw. The outcome and its target are valid only during the call.
class OutcomeSink {
 public:
  virtual ~OutcomeSink() = default;
  virtual void report(const CallOutcome& outcome) noexcept = 0;
};

// Quantiles of recent durations, lock-free: a histogram of 4 buckets per doubling from 1 ms to
// about 65 s (so a quantile is within 19% of the truth), over the current and the previous
// window of kWindow. Adding into a new window clears the one before the previous; counts
// racing with that rotation may be lost, which a quantile over hundreds of calls does not mind.
class DurationSketch {
 public:
  static constexpr std::chrono::seconds kWindow{10};
  static constexpr std::size_t kBuckets = 64;

  // The bucket that holds `d`: bucket i holds durations up to 2^((i + 1) / 4) ms.
  static std::size_t bucket_of(std::chrono::nanoseconds d) noexcept;
  void record(std::chrono::nanoseconds d, SteadyTime now) noexcept { add(bucket_of(d), 1, now); }
  // Adds `count` durations that fell in `bucket` (a merge of counts kept elsewhere).
  void add(std::size_t bucket, std::uint32_t count, SteadyTime now) noexcept;
  // The q-quantile (0 < q <= 1) of the durations of the last one to two windows before `now`
  // (the upper bound of its bucket); zero when there are none.
  std::chrono::nanoseconds quantile(double q, SteadyTime now) const noexcept;

 private:
  std::atomic<std::uint32_t> counts_[2][kBuckets] = {};
  std::atomic<SteadyTime::rep> window_start_{0};
  std::atomic<std::uint32_t> current_{0};
};

// Running statistics of one (upstream, model) pair. Each thread that reports a call adds it to
// counters of its own (one of kShards cache lines, so workers never write the same line), and
// about once a second (kMergeEvery by the calls' clock) the thread whose call comes due folds
// every shard into the figures below, which readers see. The averages are exponentially
// weighted over calls: a merge of n calls with mean m moves them by 1 − (1 − kWeight)^n of the
// way to m, as n calls one at a time would, so they follow a change within a few dozen calls.
// They also fade with time: what they held counts e^(−idle / kFade) as much after `idle`
// without calls, so after a quiet spell (a model that lost its traffic and gets only probes)
// the next few calls decide.
// Nothing locks: a merge that finds another under way leaves the counts to the next one, and a
// call racing a merge may have its parts split between two merges. A call the client or a race
// cancelled says nothing about the upstream's health and is not counted, except in the
// quantiles: one cut off after its model's median has taken at least that long, and enters them
// at the time it was cut (its time to first token, if it had one), so that hedging, which
// cancels exactly the slow calls, does not hide the tail it reacts to.
class TargetStats {
 public:
  static constexpr double kWeight = 0.1;
  static constexpr std::chrono::seconds kMergeEvery{1};
  static constexpr std::chrono::seconds kFade{10};
  static constexpr std::size_t kShards = 8;

  void record(const CallOutcome& outcome) noexcept;
  // Folds the calls every thread recorded since the last merge into the figures now; `now`
  // dates them for the quantiles. /metrics and tests call it; record() does about once a second.
  void merge(SteadyTime now) noexcept;
  // Merges if one is due at `now` (kMergeEvery after the last). record() calls it, and so does a
  // reader that may be what keeps a target's traffic away (the scorer): a target no call reaches
  // any more must not keep its last calls unmerged, to be dated, as if new, by the next one.
  void merge_if_due(SteadyTime now) noexcept;

  // Every figure below is as of the last merge.
  std::uint64_t calls() const noexcept { return calls_.load(std::memory_order_relaxed); }
  std::uint64_t failures() const noexcept { return failures_.load(std::memory_order_relaxed); }
  double failure_rate() const noexcept { return failure_rate_.load(std::memory_order_relaxed); }
  // The weighted share of calls that timed out (connect, first token, total or idle stream).
  double timeout_rate() const noexcept { return timeout_rate_.load(std::memory_order_relaxed); }
  // Output tokens per second of answered calls after their first token (the whole call for a
  // non-stream); zero until the first answer with output.
  double output_tokens_per_second() const noexcept {
    return tokens_per_s_.load(std::memory_order_relaxed);
  }
  // Of answered calls; zero until the first.
  std::chrono::nanoseconds latency() const noexcept { return ns(latency_ns_); }
  std::chrono::nanoseconds time_to_first_token() const noexcept { return ns(ttft_ns_); }
  // The q-quantile (0.95: the 95th percentile) of answered calls' durations (or times to first
  // token) over the last 10 to 20 s; zero when there were none.
  std::chrono::nanoseconds latency_quantile(double q, SteadyTime now) const noexcept {
    return latency_sketch_.quantile(q, now);
  }
  std::chrono::nanoseconds time_to_first_token_quantile(double q, SteadyTime now) const noexcept {
    return ttft_sketch_.quantile(q, now);
  }
  std::chrono::nanoseconds latency_p95(SteadyTime now) const noexcept {
    return latency_quantile(0.95, now);
  }
  std::chrono::nanoseconds time_to_first_token_p95(SteadyTime now) const noexcept {
    return time_to_first_token_quantile(0.95, now);
  }
  // When the last answers were merged; the epoch if none were.
  SteadyTime answered_at() const noexcept {
    return SteadyTime(SteadyTime::duration(answers_at_.load(std::memory_order_relaxed)));
  }
  // When the last failure was recorded (not merged: the moment it happened).
  SteadyTime last_failure() const noexcept {
    return SteadyTime(SteadyTime::duration(last_failure_.load(std::memory_order_relaxed)));
  }

 private:
  // What one thread's calls added since the last merge.
  struct alignas(64) Shard {
    std::atomic<std::uint64_t> calls{0}, failures{0}, timeouts{0}, answers{0};
    std::atomic<std::uint64_t> latency_ns{0}, ttft_ns{0};
    std::atomic<std::uint64_t> generated{0}, output_tokens{0}, generating_ns{0};
    std::atomic<std::uint32_t> latency_buckets[DurationSketch::kBuckets] = {};
    std::atomic<std::uint32_t> ttft_buckets[DurationSketch::kBuckets] = {};
  };

  static std::chrono::nanoseconds ns(const std::atomic<double>& a) noexcept {
    return std::chrono::nanoseconds(static_cast<std::int64_t>(a.load(std::memory_order_relaxed)));
  }

  Shard shards_[kShards];
  std::atomic<SteadyTime::rep> next_merge_{0};
  std::atomic_flag merging_;
  // Written only by the merge under way.
  std::atomic<std::uint64_t> calls_{0};
  std::atomic<std::uint64_t> answers_{0};
  std::atomic<std::uint64_t> failures_{0};
  std::atomic<std::uint64_t> generated_{0};  // answers with output tokens
  std::atomic<SteadyTime::rep> calls_at_{0}, answers_at_{0}, generated_at_{0};  // last merged
  std::atomic<double> failure_rate_{0};
  std::atomic<double> timeout_rate_{0};
  std::atomic<double> tokens_per_s_{0};
  std::atomic<double> latency_ns_{0};
  std::atomic<double> ttft_ns_{0};
  std::atomic<SteadyTime::rep> last_failure_{0};
  DurationSketch latency_sketch_, ttft_sketch_;
};

// The circuit breaker of one (upstream, model), lock-free: every worker records its outcomes
// and asks it while routing. Closed, it lets traffic through. It opens after
// `consecutive_failures` failures in a row; on a failure (a slow answer) once it has seen
// `min_calls` calls, if the weighted share that failed reaches `error_ratio` (the weighted
// average answer takes longer than `latency_ceiling_ms`); and, on a failure with retry-after,
// for that long.
// Open, routing puts the target behind every candidate that is not (resolve.hpp), so traffic
// moves off it at once while a route's only model keeps being tried. When `open_ms` has passed
// it is half-open: one request at a time takes the probe (admit()) and tries it first;
// `probes_to_close` answered probes in a row close it (the averages carry on, so a model that
// still fails often opens again at its next failure), and a failed one opens it again, for
// twice as long each time up to `max_open_ms`, plus up to 20% jitter so that replicas do not
// probe in step. Opening again within `max_open_ms` of a close is a relapse and doubles the
// wait as a failed probe does: probes that pass by luck during an error burst do not bring
// the traffic back every couple of seconds. Calls that were in flight when it opened say nothing, nor do calls the
// gateway's own max_concurrent turned away; a cancelled call says nothing and frees the probe.
// Times are the request Clock's, so tests drive it with a manual clock.
class Breaker {
 public:
  enum class State : std::uint8_t { closed, open, half_open };

  State state(SteadyTime now) const noexcept;
  // When it turns half-open, if it is open at `now`; else nullopt.
  std::optional<SteadyTime> half_open_at(SteadyTime now) const noexcept {
    const auto until = open_until_.load(std::memory_order_acquire);
    if (until == 0 || now.time_since_epoch().count() >= until) return std::nullopt;
    return SteadyTime(SteadyTime::duration(until));
  }
  // Whether a request may route to the target as usual at `now`: it is closed, or half-open and
  // this caller takes the probe (for open_ms; a probe never reported frees itself then).
  bool admit(SteadyTime now, const BreakerConfig& config) noexcept;
  void record(const CallOutcome& outcome, const BreakerConfig& config) noexcept;
  std::uint64_t times_opened() const noexcept { return opened_.load(std::memory_order_relaxed); }

  // Sharing with other replicas (server/shared_state.hpp). opened_here_until() is when the
  // opening this replica made itself ends, if that is after `now`: what it tells the others.
  // adopt() is what another replica told: it opens the breaker until `until` (on this clock),
  // unless it is open longer already; half-open after that, it probes for itself. An adopted
  // opening is not counted in times_opened() nor told on, so that replicas never echo it.
  std::optional<SteadyTime> opened_here_until(SteadyTime now) const noexcept {
    const auto until = own_until_.load(std::memory_order_relaxed);
    if (now.time_since_epoch().count() >= until) return std::nullopt;
    return SteadyTime(SteadyTime::duration(until));
  }
  void adopt(SteadyTime until) noexcept;

 private:
  // Opens from the state `expected` (open_until_'s value when the caller looked), for
  // `retry_after` if the upstream asked, else for the backoff; if another worker changed the
  // state first, leaves it to that one.
  void open(SteadyTime::rep expected, SteadyTime now, std::chrono::nanoseconds retry_after,
            const BreakerConfig& config) noexcept;
  void close(SteadyTime::rep expected, SteadyTime now) noexcept;

  std::atomic<SteadyTime::rep> open_until_{0};  // 0: closed; else open until, then half-open
  std::atomic<SteadyTime::rep> probe_until_{0};
  std::atomic<std::uint32_t> consecutive_{0};
  std::atomic<std::uint32_t> calls_{0};    // judged so far (a close does not reset it)
  std::atomic<std::uint32_t> reopens_{0};  // failed probes and relapses, for the backoff
  std::atomic<SteadyTime::rep> closed_at_{0};  // the last close from half-open
  std::atomic<std::uint32_t> probes_ok_{0};  // answered probes since it turned half-open
  std::atomic<double> failure_share_{0};
  std::atomic<double> latency_ms_{0};
  std::atomic<std::uint64_t> opened_{0};
  std::atomic<SteadyTime::rep> own_until_{0};  // the end of the last opening made here
};

// State one upstream shares across its models and across snapshots.
struct UpstreamState {
  explicit UpstreamState(std::string n) : name(std::move(n)) {}
  const std::string name;
  // Calls in flight across all workers and snapshots, against the upstream's max_concurrent.
  std::atomic<std::uint32_t> in_flight{0};
};

// The live state of one (upstream, model) pair, keyed by their configured names.
struct TargetState {
  TargetState(UpstreamState& u, std::string m) : upstream(u), model(std::move(m)) {}
  UpstreamState& upstream;
  const std::string model;
  // Calls to this model in flight, across all workers and snapshots (upstream.in_flight counts
  // them against the upstream's max_concurrent).
  std::atomic<std::uint32_t> in_flight{0};
  TargetStats stats;
  Breaker breaker;
};

}  // namespace switchyard

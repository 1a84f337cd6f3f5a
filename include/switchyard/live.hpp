// Live state of the upstreams: what every finished call reports, and the running statistics
// per (upstream, model) that scoring, outlier detection and circuit breaking read. Shared by all
// workers and kept across config reloads (the gateway owns it; snapshots point into it).
#pragma once

#include "switchyard/clock.hpp"
#include "switchyard/error.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
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

// Running statistics of one (upstream, model) pair, updated lock-free by every worker. The
// averages are exponentially weighted over calls (each call moves them by kWeight of the way),
// so they follow a change within a few dozen calls. A call the client or a race cancelled says
// nothing about the upstream and is not counted.
class TargetStats {
 public:
  static constexpr double kWeight = 0.1;

  void record(const CallOutcome& outcome) noexcept;

  std::uint64_t calls() const noexcept { return calls_.load(std::memory_order_relaxed); }
  std::uint64_t failures() const noexcept { return failures_.load(std::memory_order_relaxed); }
  double failure_rate() const noexcept { return failure_rate_.load(std::memory_order_relaxed); }
  // Of answered calls; zero until the first.
  std::chrono::nanoseconds latency() const noexcept { return ns(latency_ns_); }
  std::chrono::nanoseconds time_to_first_token() const noexcept { return ns(ttft_ns_); }
  SteadyTime last_failure() const noexcept {
    return SteadyTime(SteadyTime::duration(last_failure_.load(std::memory_order_relaxed)));
  }

 private:
  static std::chrono::nanoseconds ns(const std::atomic<double>& a) noexcept {
    return std::chrono::nanoseconds(static_cast<std::int64_t>(a.load(std::memory_order_relaxed)));
  }

  std::atomic<std::uint64_t> calls_{0};
  std::atomic<std::uint64_t> answers_{0};
  std::atomic<std::uint64_t> failures_{0};
  std::atomic<double> failure_rate_{0};
  std::atomic<double> latency_ns_{0};
  std::atomic<double> ttft_ns_{0};
  std::atomic<SteadyTime::rep> last_failure_{0};
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
  TargetStats stats;
};

}  // namespace switchyard

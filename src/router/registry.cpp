#include "router/registry.hpp"

#include "switchyard/router.hpp"

#include <algorithm>

namespace switchyard {

namespace {

void blend(std::atomic<double>& average, double sample, bool first) noexcept {
  double old = average.load(std::memory_order_relaxed);
  double next;
  do {
    next = first ? sample : old + TargetStats::kWeight * (sample - old);
  } while (!average.compare_exchange_weak(old, next, std::memory_order_relaxed));
}

using Rep = SteadyTime::rep;

std::chrono::nanoseconds ms(std::uint32_t v) { return std::chrono::milliseconds(v); }

}  // namespace

Breaker::State Breaker::state(SteadyTime now) const noexcept {
  const Rep until = open_until_.load(std::memory_order_acquire);
  if (until == 0) return State::closed;
  return now.time_since_epoch().count() < until ? State::open : State::half_open;
}

bool Breaker::admit(SteadyTime now, const BreakerConfig& c) noexcept {
  switch (state(now)) {
    case State::closed: return true;
    case State::open: return false;
    case State::half_open: break;
  }
  const Rep t = now.time_since_epoch().count();
  Rep probe = probe_until_.load(std::memory_order_relaxed);
  return probe <= t && probe_until_.compare_exchange_strong(
                           probe, (now + ms(c.open_ms)).time_since_epoch().count(),
                           std::memory_order_relaxed);
}

void Breaker::record(const CallOutcome& o, const BreakerConfig& c) noexcept {
  if (!o.ok && o.reason == Reason::cancelled) {
    probe_until_.store(0, std::memory_order_relaxed);
    return;
  }
  const Rep until = open_until_.load(std::memory_order_acquire);
  const Rep now = o.finished.time_since_epoch().count();
  if (until != 0 && now < until) return;  // open: a call from before it opened
  const bool slow = c.latency_ceiling_ms && o.latency > ms(c.latency_ceiling_ms);
  if (until != 0) {  // half-open: this outcome is the probe's answer
    if (o.ok && !slow) close(until);
    else open(until, o.finished, ms(o.retry_after_ms), c);
    return;
  }
  const std::uint32_t calls = calls_.fetch_add(1, std::memory_order_relaxed) + 1;
  blend(failure_share_, o.ok ? 0.0 : 1.0, calls == 1);
  if (o.ok) {
    consecutive_.store(0, std::memory_order_relaxed);
    blend(latency_ms_, std::chrono::duration<double, std::milli>(o.latency).count(), calls == 1);
  }
  const std::uint32_t in_a_row =
      o.ok ? 0 : consecutive_.fetch_add(1, std::memory_order_relaxed) + 1;
  const bool enough = calls >= c.min_calls;
  if ((!o.ok && o.retry_after_ms) || in_a_row >= c.consecutive_failures ||
      (enough && failure_share_.load(std::memory_order_relaxed) >= c.error_ratio) ||
      (enough && c.latency_ceiling_ms &&
       latency_ms_.load(std::memory_order_relaxed) > c.latency_ceiling_ms))
    open(0, o.finished, o.ok ? std::chrono::nanoseconds(0) : ms(o.retry_after_ms), c);
}

void Breaker::open(Rep expected, SteadyTime now, std::chrono::nanoseconds retry_after,
                   const BreakerConfig& c) noexcept {
  // Opening again from half-open: a failed probe, one more doubling.
  const std::uint32_t reopens =
      expected == 0 ? 0 : std::min<std::uint32_t>(reopens_.load(std::memory_order_relaxed) + 1, 16);
  auto d = retry_after.count() > 0
               ? retry_after
               : std::min(ms(c.open_ms) * (std::int64_t{1} << reopens), ms(c.max_open_ms));
  // Jitter from the clock's low bits: different on every replica, no shared random state.
  d += d * ((now.time_since_epoch().count() >> 10) % 200) / 1000;
  const Rep until = (now + d).time_since_epoch().count();
  if (!open_until_.compare_exchange_strong(expected, until, std::memory_order_acq_rel)) return;
  reopens_.store(reopens, std::memory_order_relaxed);
  probe_until_.store(0, std::memory_order_relaxed);
  opened_.fetch_add(1, std::memory_order_relaxed);
}

void Breaker::close(Rep expected) noexcept {
  consecutive_.store(0, std::memory_order_relaxed);
  calls_.store(0, std::memory_order_relaxed);
  reopens_.store(0, std::memory_order_relaxed);
  failure_share_.store(0, std::memory_order_relaxed);
  latency_ms_.store(0, std::memory_order_relaxed);
  probe_until_.store(0, std::memory_order_relaxed);
  open_until_.compare_exchange_strong(expected, 0, std::memory_order_acq_rel);
}

void TargetStats::record(const CallOutcome& o) noexcept {
  if (!o.ok && o.reason == Reason::cancelled) return;
  const bool first = calls_.fetch_add(1, std::memory_order_relaxed) == 0;
  blend(failure_rate_, o.ok ? 0.0 : 1.0, first);
  if (!o.ok) {
    failures_.fetch_add(1, std::memory_order_relaxed);
    last_failure_.store(o.finished.time_since_epoch().count(), std::memory_order_relaxed);
    return;
  }
  // The first answer seeds the averages: nothing else is known.
  const bool first_answer = answers_.fetch_add(1, std::memory_order_relaxed) == 0;
  blend(latency_ns_, static_cast<double>(o.latency.count()), first_answer);
  blend(ttft_ns_, static_cast<double>(std::max(o.time_to_first_token.count(), std::int64_t{0})),
        first_answer);
}

TargetState& TargetRegistry::target(std::string_view upstream, std::string_view model) {
  std::lock_guard lock(mutex_);
  auto u = upstreams_.find(upstream);
  if (u == upstreams_.end())
    u = upstreams_.emplace(std::string(upstream), std::make_unique<UpstreamState>(std::string(upstream)))
            .first;
  auto& t = targets_[{std::string(upstream), std::string(model)}];
  if (!t) t = std::make_unique<TargetState>(*u->second, std::string(model));
  return *t;
}

void TargetRegistry::report(const CallOutcome& outcome) noexcept {
  outcome.target->state->stats.record(outcome);
  if (const auto& c = outcome.target->upstream_config->breaker; c.enabled)
    outcome.target->state->breaker.record(outcome, c);
  for (auto* sink : sinks_) sink->report(outcome);
}

}  // namespace switchyard

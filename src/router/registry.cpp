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

}  // namespace

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
  for (auto* sink : sinks_) sink->report(outcome);
}

}  // namespace switchyard

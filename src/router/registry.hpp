// The one home of live per-upstream state: in-flight counts and running statistics per
// (upstream, model), owned by the gateway and shared by every snapshot built on it, so a reload
// keeps both. Also where every finished call reports its outcome.
#pragma once

#include "switchyard/live.hpp"

#include <prometheus/collectable.h>

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace switchyard {

// Entries are created on the control thread while a snapshot is built and are never removed
// (there are as many as distinct names configured in the process's life), so the references it
// hands out stay valid as long as the registry. Reporting is lock-free; it updates the target's
// statistics and breaker, then passes the outcome to each added sink. As a Prometheus
// Collectable (Metrics::add_source) it exposes, per (upstream, model), the breaker's state and
// openings and the running statistics, read when /metrics is scraped.
class TargetRegistry final : public OutcomeSink, public prometheus::Collectable {
 public:
  // The state of (upstream, model), created on first use. Control thread.
  TargetState& target(std::string_view upstream, std::string_view model);

  // Also sends every outcome to `sink` (a remote store, an outlier detector), which must outlive
  // the registry. Control thread, before the first snapshot is built on it.
  void add_sink(OutcomeSink& sink) { sinks_.push_back(&sink); }

  void report(const CallOutcome& outcome) noexcept override;

  // Calls fn(upstream, model, state) for every entry, under the control plane's lock: for a
  // background thread (server/shared_state.hpp), never a worker.
  template <class F>
  void visit(F&& fn) {
    std::lock_guard lock(mutex_);
    for (auto& [names, state] : targets_) fn(names.first, names.second, *state);
  }

  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  mutable std::mutex mutex_;  // control plane: target(), Collect()
  std::map<std::string, std::unique_ptr<UpstreamState>, std::less<>> upstreams_;
  std::map<std::pair<std::string, std::string>, std::unique_ptr<TargetState>> targets_;
  std::vector<OutcomeSink*> sinks_;
};

}  // namespace switchyard

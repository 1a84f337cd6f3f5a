// Prometheus metrics. One Metrics object per process; a Snapshot resolves the handles its routes
// and models need once, so the data plane only touches atomics.
#pragma once

#include "switchyard/error.hpp"

#include <prometheus/collectable.h>
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/metric_family.h>
#include <prometheus/registry.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace switchyard {

// For a Collectable that reads live state at scrape time: an empty family, and one sample of it
// (a counter's or a gauge's value, by the family's type).
prometheus::MetricFamily make_family(const char* name, const char* help,
                                     prometheus::MetricType type);
void add_sample(prometheus::MetricFamily& family,
                std::vector<prometheus::ClientMetric::Label> labels, double value);

// A histogram whose observe() is lock-free (prometheus-cpp's Histogram takes a mutex).
// Cells are created on the control plane and live as long as the family.
class HistogramFamily : public prometheus::Collectable {
 public:
  struct Cell {
    explicit Cell(std::size_t buckets) : counts(buckets + 1) {}
    void observe(double v) noexcept;
    const std::vector<double>* bounds = nullptr;
    std::vector<std::atomic<std::uint64_t>> counts;  // per bucket, last = +Inf
    std::atomic<double> sum{0};
  };

  HistogramFamily(std::string name, std::string help, std::vector<double> bounds);
  // Returns the cell for these labels, creating it once. Control plane only (takes a lock).
  Cell& cell(const std::map<std::string, std::string>& labels);
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  std::string name_, help_;
  std::vector<double> bounds_;
  mutable std::mutex mutex_;
  std::map<std::map<std::string, std::string>, std::unique_ptr<Cell>> cells_;
};

// Up to kSlots series of one kind found by a small key without a lock; the owner inserts under
// its own lock. Beyond kSlots keys, find() misses and the owner takes its lock each time.
template <class T>
class KeyedSlots {
 public:
  T* find(std::uint64_t key) const noexcept {
    for (std::size_t i = 0; i < kSlots; ++i) {
      const auto k = keys_[i].load(std::memory_order_acquire);
      if (k == key + 1) return slots_[i].load(std::memory_order_relaxed);
      if (k == 0) return nullptr;
    }
    return nullptr;
  }
  void insert(std::uint64_t key, T* series) noexcept {  // under the owner's lock
    for (std::size_t i = 0; i < kSlots; ++i) {
      const auto k = keys_[i].load(std::memory_order_relaxed);
      if (k == key + 1) return;
      if (k != 0) continue;
      slots_[i].store(series, std::memory_order_relaxed);
      keys_[i].store(key + 1, std::memory_order_release);
      return;
    }
  }

 private:
  static constexpr std::size_t kSlots = 24;
  std::array<std::atomic<T*>, kSlots> slots_{};
  std::array<std::atomic<std::uint64_t>, kSlots> keys_{};  // key + 1; 0 = free
};

// A counter whose label set is created on first use (e.g. one per HTTP status), then cached.
// inc() is lock-free once the series exists.
class LazyCounters {
 public:
  LazyCounters(prometheus::Family<prometheus::Counter>& family,
               std::map<std::string, std::string> labels, std::string varying_label)
      : family_(&family), labels_(std::move(labels)), varying_(std::move(varying_label)) {}
  // `key` identifies `value` (e.g. the status code for "503"); the first inc of a key creates
  // the series under a lock, later ones are a lock-free scan and an atomic add.
  void inc(std::uint64_t key, std::string_view value, double by = 1) const;

 private:
  prometheus::Family<prometheus::Counter>* family_;
  std::map<std::string, std::string> labels_;
  std::string varying_;
  mutable KeyedSlots<prometheus::Counter> slots_;
  mutable std::mutex mutex_;
};

// Histogram cells of one family with some labels fixed and the rest chosen by a small key
// (`vary` maps a key to those labels). A cell is created on its key's first use, under a lock;
// later observations are a lock-free scan and atomic adds.
class LazyCells {
 public:
  using Labels = std::map<std::string, std::string>;
  LazyCells(HistogramFamily& family, Labels fixed, Labels (*vary)(std::uint64_t key))
      : family_(&family), fixed_(std::move(fixed)), vary_(vary) {}
  HistogramFamily::Cell& at(std::uint64_t key) const;

 private:
  HistogramFamily* family_;
  Labels fixed_;
  Labels (*vary_)(std::uint64_t);
  mutable KeyedSlots<HistogramFamily::Cell> slots_;
  mutable std::mutex mutex_;
};

// The handles of one (route, model, upstream), owned by the Metrics and shared by every Snapshot
// that names the triple. The gen_ai_* histograms follow the OpenTelemetry GenAI conventions: their
// keys pick the operation (`op`: Endpoint's order, 0 chat, 1 text_completion, 2 embeddings).
struct ModelMetrics {
  LazyCounters requests_by_code;
  LazyCounters attempts_by_outcome;
  LazyCounters race_calls;  // a race's or hedge's calls by result: won, lost, failed
  prometheus::Counter* cost_usd = nullptr;
  LazyCells token_usage;       // tokens the upstream reported; key: op * 2 + (output ? 1 : 0)
  LazyCells estimated_tokens;  // tokens the gateway estimated (no usage reported); same keys
  LazyCells duration;          // key: op * 64 + (failed ? 1 + the Reason : 0)
  LazyCells ttft;              // streams: time to the first event; key: op
};

// The statuses whose request counts exist at 0 from the start, so that rate() and ratios over
// them see the first burst: a series born with its first increment hides that increment.
inline constexpr std::array<int, 10> kDashboardCodes{200, 400, 401, 404, 429, 499,
                                                     500, 502, 503, 504};

class Metrics {
 public:
  Metrics();

  // Handles for (route, model served by upstream, whose gen_ai.provider.name is `provider`).
  // Control plane; cached, so snapshots that reuse the same triple share the same series.
  const ModelMetrics& model(const std::string& route, const std::string& model,
                            const std::string& upstream, const std::string& provider);

  // Requests that never reached a route (404, 400, 401, …).
  void count_unrouted(int status, double by = 1);
  // Failed-call counters of one upstream, keyed by Reason. Control plane; cached.
  LazyCounters& upstream_errors(const std::string& upstream);
  // Response-cache lookups of one route, keyed by result (hit, miss, skip). Control plane; cached.
  LazyCounters& cache_lookups(const std::string& route);
  // Cascade escalations on `route` from model `from` to model `to`, keyed by reason (the gate
  // that failed, or "error"). Control plane; cached.
  LazyCounters& escalations(const std::string& route, const std::string& from,
                            const std::string& to);
  // What `route`'s answered requests cost, every call included, and what its strongest model
  // alone would have cost for the same answers (a cascade's last tier, priced on the answer's
  // tokens): a dashboard charts the saving as the difference of their rates. Control plane.
  struct Savings {
    prometheus::Counter* spent = nullptr;
    prometheus::Counter* baseline = nullptr;
  };
  Savings savings(const std::string& route);
  // Quality-gate verdicts on `route`'s answers by gate, keyed by result (pass, fail). Control
  // plane; cached.
  LazyCounters& gate_results(const std::string& route, const std::string& gate);
  // What races and hedges on `route` spent on calls whose answer did not win (their calls by
  // result are ModelMetrics::race_calls), by how each was billed: [0] the upstream's reported
  // usage, [1] the tokens a cancelled stream had sent, [2] an estimate from sizes. Every series
  // exists from the start. Control plane.
  using WastedUsd = std::array<prometheus::Counter*, 3>;
  WastedUsd race_wasted_usd(const std::string& route);
  // Hedges on `route` by outcome: fired (a second call started at the delay), won (it answered
  // first), over_budget (the delay passed but the hedge budget was spent). Control plane; cached.
  LazyCounters& hedges(const std::string& route);
  void config_reload(bool ok);
  // A feedback (POST /v1/feedback) on an answer of `model` on `route`, scored 0..1. Takes the
  // prometheus family's lock: feedback is rare next to requests.
  void feedback(const std::string& route, const std::string& model, double score);

  prometheus::Gauge& in_flight() { return *in_flight_; }

  // Client connections: open now, and those the gateway closed to stay under
  // server.max_connections ("shed_idle": an idle keep-alive connection made room; "refused": a
  // new one found no room).
  prometheus::Gauge& connections() { return *connections_; }
  prometheus::Counter& connections_shed_idle() { return *shed_idle_; }
  prometheus::Counter& connections_refused() { return *refused_; }
  prometheus::Counter& accept_errors() { return *accept_errors_; }
  // The shared store (`redis:`): 1 while the last exchange succeeded, 0 while it fails or with no
  // store configured; and its failed exchanges.
  prometheus::Gauge& shared_store_up() { return *store_up_; }
  prometheus::Counter& shared_store_errors() { return *store_errors_; }
  // Requests rejected at the HTTP layer, by kind (server/request_reader.hpp's Refusal).
  // Lock-free after the first use of a kind.
  LazyCounters& protocol_errors() { return *protocol_errors_; }
  // Time a request spent in the gateway outside upstream calls (parsing, routing, relaying).
  HistogramFamily::Cell& overhead() { return *overhead_cell_; }

  // Also exposes what `source` collects (live state kept elsewhere, read at scrape time), for
  // as long as it exists. Control plane.
  void add_source(std::weak_ptr<const prometheus::Collectable> source);
  // The text exposition of every metric.
  std::string serialize() const;

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>& requests_;
  prometheus::Family<prometheus::Counter>& attempts_;
  prometheus::Family<prometheus::Counter>& upstream_errors_;
  prometheus::Family<prometheus::Counter>& cost_;
  prometheus::Family<prometheus::Counter>& reloads_;
  prometheus::Family<prometheus::Counter>& cache_;
  prometheus::Family<prometheus::Counter>& escalations_;
  prometheus::Family<prometheus::Counter>& gates_;
  prometheus::Family<prometheus::Counter>& spent_;
  prometheus::Family<prometheus::Counter>& baseline_;
  prometheus::Family<prometheus::Counter>& race_calls_;
  prometheus::Family<prometheus::Counter>& race_wasted_;
  prometheus::Family<prometheus::Counter>& hedges_;
  prometheus::Family<prometheus::Counter>& feedback_;
  prometheus::Family<prometheus::Counter>& feedback_score_;
  prometheus::Gauge* in_flight_;
  prometheus::Gauge* connections_;
  prometheus::Counter *shed_idle_, *refused_, *accept_errors_;
  prometheus::Gauge* store_up_;
  prometheus::Counter* store_errors_;
  std::unique_ptr<LazyCounters> protocol_errors_;
  HistogramFamily tokens_, estimated_tokens_, duration_, ttft_, overhead_;
  HistogramFamily::Cell* overhead_cell_;
  std::unique_ptr<LazyCounters> unrouted_;
  mutable std::mutex mutex_;
  std::map<std::string, std::unique_ptr<ModelMetrics>> models_;
  std::vector<std::weak_ptr<const prometheus::Collectable>> sources_;
  using Labels = std::map<std::string, std::string>;
  // The LazyCounters of `family` with `labels` fixed and `varying` created on use; cached.
  LazyCounters& lazy(prometheus::Family<prometheus::Counter>& family, Labels labels,
                     const char* varying);
  std::map<std::pair<const void*, Labels>, std::unique_ptr<LazyCounters>> lazies_;
};

}  // namespace switchyard

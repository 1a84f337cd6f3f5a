#include "metrics/metrics.hpp"

#include <prometheus/text_serializer.h>

#include <sstream>

namespace switchyard {

namespace prom = prometheus;

void HistogramFamily::Cell::observe(double v) noexcept {
  std::size_t i = 0;
  while (i < bounds->size() && v > (*bounds)[i]) ++i;
  counts[i].fetch_add(1, std::memory_order_relaxed);
  double cur = sum.load(std::memory_order_relaxed);
  while (!sum.compare_exchange_weak(cur, cur + v, std::memory_order_relaxed)) {
  }
}

HistogramFamily::HistogramFamily(std::string name, std::string help, std::vector<double> bounds)
    : name_(std::move(name)), help_(std::move(help)), bounds_(std::move(bounds)) {}

HistogramFamily::Cell& HistogramFamily::cell(const std::map<std::string, std::string>& labels) {
  std::lock_guard lock(mutex_);
  auto& c = cells_[labels];
  if (!c) {
    c = std::make_unique<Cell>(bounds_.size());
    c->bounds = &bounds_;
  }
  return *c;
}

std::vector<prom::MetricFamily> HistogramFamily::Collect() const {
  prom::MetricFamily fam;
  fam.name = name_;
  fam.help = help_;
  fam.type = prom::MetricType::Histogram;
  std::lock_guard lock(mutex_);
  for (const auto& [labels, cell] : cells_) {
    prom::ClientMetric m;
    for (const auto& [k, v] : labels) m.label.push_back({k, v});
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i <= bounds_.size(); ++i) {
      cumulative += cell->counts[i].load(std::memory_order_relaxed);
      prom::ClientMetric::Bucket b;
      b.cumulative_count = cumulative;
      b.upper_bound = i < bounds_.size() ? bounds_[i] : std::numeric_limits<double>::infinity();
      m.histogram.bucket.push_back(b);
    }
    m.histogram.sample_count = cumulative;
    m.histogram.sample_sum = cell->sum.load(std::memory_order_relaxed);
    fam.metric.push_back(std::move(m));
  }
  return {std::move(fam)};
}

void LazyCounters::inc(std::uint64_t key, std::string_view value, double by) const {
  if (auto* counter = slots_.find(key)) {
    counter->Increment(by);
    return;
  }
  std::lock_guard lock(mutex_);
  auto labels = labels_;
  labels[varying_] = std::string(value);
  auto& counter = family_->Add(labels);
  slots_.insert(key, &counter);
  counter.Increment(by);
}

HistogramFamily::Cell& LazyCells::at(std::uint64_t key) const {
  if (auto* cell = slots_.find(key)) return *cell;
  std::lock_guard lock(mutex_);
  auto labels = fixed_;
  labels.merge(vary_(key));
  auto& cell = family_->cell(labels);
  slots_.insert(key, &cell);
  return cell;
}

namespace {

// gen_ai.operation.name of each Endpoint, in its order.
constexpr std::array<const char*, 3> kOperations{"chat", "text_completion", "embeddings"};

LazyCells::Labels token_labels(std::uint64_t key) {
  return {{"gen_ai_operation_name", kOperations.at(key / 2)},
          {"gen_ai_token_type", key % 2 ? "output" : "input"}};
}

LazyCells::Labels duration_labels(std::uint64_t key) {
  LazyCells::Labels labels{{"gen_ai_operation_name", kOperations.at(key / 64)}};
  if (key % 64) labels["error_type"] = reason_name(static_cast<Reason>(key % 64 - 1));
  return labels;
}

LazyCells::Labels operation_labels(std::uint64_t key) {
  return {{"gen_ai_operation_name", kOperations.at(key)}};
}

// OpenTelemetry GenAI semantic conventions: the recommended explicit bucket boundaries.
std::vector<double> token_buckets() {
  return {1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216,
          67108864};
}
std::vector<double> duration_buckets() {
  return {0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92};
}
std::vector<double> ttft_buckets() {
  return {0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5,
          10.0};
}

}  // namespace

Metrics::Metrics()
    : registry_(std::make_shared<prom::Registry>()),
      requests_(prom::BuildCounter()
                    .Name("switchyard_requests_total")
                    .Help("Client requests by route, served model and HTTP status")
                    .Register(*registry_)),
      attempts_(prom::BuildCounter()
                    .Name("switchyard_upstream_attempts_total")
                    .Help("Upstream calls by upstream, model and outcome (ok or failure reason)")
                    .Register(*registry_)),
      upstream_errors_(prom::BuildCounter()
                           .Name("switchyard_upstream_errors_total")
                           .Help("Failed upstream calls by upstream and reason")
                           .Register(*registry_)),
      cost_(prom::BuildCounter()
                .Name("switchyard_cost_usd_total")
                .Help("Cost of every upstream call in US dollars, from configured prices: answers, "
                      "escalated and failed calls alike")
                .Register(*registry_)),
      reloads_(prom::BuildCounter()
                   .Name("switchyard_config_reloads_total")
                   .Help("Configuration reloads by result")
                   .Register(*registry_)),
      cache_(prom::BuildCounter()
                 .Name("switchyard_cache_requests_total")
                 .Help("Response-cache lookups by route and result: hit, miss, skip")
                 .Register(*registry_)),
      escalations_(prom::BuildCounter()
                       .Name("switchyard_cascade_escalations_total")
                       .Help("Cascade escalations by route, from and to model, and reason: the "
                             "quality gate that failed, or error")
                       .Register(*registry_)),
      gates_(prom::BuildCounter()
                 .Name("switchyard_gate_results_total")
                 .Help("Quality-gate verdicts on upstream answers by route, gate and result")
                 .Register(*registry_)),
      spent_(prom::BuildCounter()
                 .Name("switchyard_route_spent_usd_total")
                 .Help("What each route's answered requests cost, every upstream call included")
                 .Register(*registry_)),
      baseline_(prom::BuildCounter()
                    .Name("switchyard_route_baseline_usd_total")
                    .Help("What the route's strongest model alone would have cost for the same "
                          "answers; the saving is the difference from spent")
                    .Register(*registry_)),
      race_calls_(prom::BuildCounter()
                      .Name("switchyard_race_calls_total")
                      .Help("Calls of races and hedges by route, model and result: won, lost "
                            "(cancelled or beaten), failed")
                      .Register(*registry_)),
      race_wasted_(prom::BuildCounter()
                       .Name("switchyard_race_wasted_usd_total")
                       .Help("What races and hedges spent on calls whose answer did not win, by "
                             "how each was billed: usage, tokens_seen or estimate")
                       .Register(*registry_)),
      hedges_(prom::BuildCounter()
                  .Name("switchyard_hedges_total")
                  .Help("Hedged requests by route and outcome: fired, won, over_budget")
                  .Register(*registry_)),
      feedback_(prom::BuildCounter()
                    .Name("switchyard_feedback_total")
                    .Help("Feedbacks on answers (POST /v1/feedback) by route and model")
                    .Register(*registry_)),
      feedback_score_(prom::BuildCounter()
                          .Name("switchyard_feedback_score_total")
                          .Help("Sum of feedback scores (0 to 1) by route and model: divided by "
                                "switchyard_feedback_total, the mean")
                          .Register(*registry_)),
      in_flight_(&prom::BuildGauge()
                      .Name("switchyard_requests_in_flight")
                      .Help("Client requests being processed")
                      .Register(*registry_)
                      .Add({})),
      connections_(&prom::BuildGauge()
                        .Name("switchyard_connections")
                        .Help("Open client connections")
                        .Register(*registry_)
                        .Add({})),
      tokens_("gen_ai_client_token_usage", "Number of input and output tokens used",
              token_buckets()),
      estimated_tokens_("switchyard_estimated_token_usage",
                        "Tokens per request estimated by the gateway, for answers whose upstream "
                        "reported no usage",
                        token_buckets()),
      duration_("gen_ai_client_operation_duration_seconds", "GenAI operation duration",
                duration_buckets()),
      ttft_("gen_ai_server_time_to_first_token_seconds",
            "Time to generate the first token for successful responses", ttft_buckets()),
      overhead_("switchyard_gateway_overhead_seconds",
                "Time a request spent in the gateway outside upstream calls",
                {1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 2.5e-2, 0.1}),
      overhead_cell_(&overhead_.cell({})) {
  prom::BuildGauge()
      .Name("switchyard_build_info")
      .Help("Build information; the value is always 1")
      .Register(*registry_)
      .Add({{"version", SWITCHYARD_VERSION}})
      .Set(1);
  unrouted_ = std::make_unique<LazyCounters>(
      requests_, std::map<std::string, std::string>{{"route", "none"}, {"model", "none"}}, "code");
  for (int code : kDashboardCodes) count_unrouted(code, 0);
  auto& closed = prom::BuildCounter()
                     .Name("switchyard_connections_closed_total")
                     .Help("Client connections closed to stay under server.max_connections")
                     .Register(*registry_);
  shed_idle_ = &closed.Add({{"reason", "shed_idle"}});
  refused_ = &closed.Add({{"reason", "refused"}});
  accept_errors_ = &prom::BuildCounter()
                        .Name("switchyard_accept_errors_total")
                        .Help("Failed accept() calls (e.g. out of file descriptors)")
                        .Register(*registry_)
                        .Add({});
  store_up_ = &prom::BuildGauge()
                    .Name("switchyard_shared_store_up")
                    .Help("1 while the last exchange with the shared store (redis:) succeeded; 0 "
                          "while it fails, or without one")
                    .Register(*registry_)
                    .Add({});
  store_errors_ = &prom::BuildCounter()
                       .Name("switchyard_shared_store_errors_total")
                       .Help("Failed exchanges with the shared store; the replica serves from its "
                             "own counts meanwhile")
                       .Register(*registry_)
                       .Add({});
  protocol_errors_ = std::make_unique<LazyCounters>(
      prom::BuildCounter()
          .Name("switchyard_client_protocol_errors_total")
          .Help("Requests rejected at the HTTP layer, by kind")
          .Register(*registry_),
      std::map<std::string, std::string>{}, "kind");
  // Both results exist from the start so that rate() works from the first reload.
  reloads_.Add({{"result", "success"}});
  reloads_.Add({{"result", "failure"}});
}

const ModelMetrics& Metrics::model(const std::string& route, const std::string& model,
                                   const std::string& upstream, const std::string& provider) {
  std::lock_guard lock(mutex_);
  auto& slot = models_[route + '\0' + model + '\0' + upstream + '\0' + provider];
  if (!slot) {
    const Labels rm{{"route", route}, {"model", model}};
    const Labels gen_ai{{"gen_ai_provider_name", provider},
                        {"gen_ai_request_model", route == "passthrough" ? model : route},
                        {"gen_ai_response_model", model}};
    slot.reset(new ModelMetrics{
        LazyCounters(requests_, rm, "code"),
        LazyCounters(attempts_, {{"upstream", upstream}, {"model", model}}, "outcome"),
        LazyCounters(race_calls_, rm, "result"),
        &cost_.Add({{"route", route}, {"model", model}, {"upstream", upstream}}),
        LazyCells(tokens_, gen_ai, token_labels),
        LazyCells(estimated_tokens_, gen_ai, token_labels),
        LazyCells(duration_, gen_ai, duration_labels),
        LazyCells(ttft_, gen_ai, operation_labels),
    });
    // What a dashboard divides by exists at 0 before the first request.
    for (int code : kDashboardCodes)
      slot->requests_by_code.inc(static_cast<std::uint64_t>(code), std::to_string(code), 0);
    slot->attempts_by_outcome.inc(0, "ok", 0);
  }
  return *slot;
}

void Metrics::count_unrouted(int status, double by) {
  unrouted_->inc(static_cast<std::uint64_t>(status), std::to_string(status), by);
}

LazyCounters& Metrics::lazy(prometheus::Family<prometheus::Counter>& family, Labels labels,
                            const char* varying) {
  std::lock_guard lock(mutex_);
  auto& slot = lazies_[{&family, labels}];
  if (!slot) slot = std::make_unique<LazyCounters>(family, std::move(labels), varying);
  return *slot;
}

LazyCounters& Metrics::upstream_errors(const std::string& upstream) {
  auto& errors = lazy(upstream_errors_, {{"upstream", upstream}}, "reason");
  for (auto r = Reason::upstream_saturated; r <= Reason::timeout_idle_stream;
       r = static_cast<Reason>(static_cast<int>(r) + 1))
    errors.inc(static_cast<std::uint64_t>(r), reason_name(r), 0);
  return errors;
}

LazyCounters& Metrics::cache_lookups(const std::string& route) {
  auto& lookups = lazy(cache_, {{"route", route}}, "result");
  lookups.inc(0, "hit", 0);  // the keys api_call.cpp counts them by
  lookups.inc(1, "miss", 0);
  lookups.inc(2, "skip", 0);
  return lookups;
}

LazyCounters& Metrics::escalations(const std::string& route, const std::string& from,
                                   const std::string& to) {
  return lazy(escalations_, {{"route", route}, {"from", from}, {"to", to}}, "reason");
}

LazyCounters& Metrics::gate_results(const std::string& route, const std::string& gate) {
  auto& results = lazy(gates_, {{"route", route}, {"gate", gate}}, "result");
  results.inc(1, "pass", 0);  // the keys cascade.cpp counts them by
  results.inc(0, "fail", 0);
  return results;
}

prometheus::MetricFamily make_family(const char* name, const char* help,
                                     prometheus::MetricType type) {
  prometheus::MetricFamily f;
  f.name = name;
  f.help = help;
  f.type = type;
  return f;
}

void add_sample(prometheus::MetricFamily& family,
                std::vector<prometheus::ClientMetric::Label> labels, double value) {
  prometheus::ClientMetric m;
  m.label = std::move(labels);
  if (family.type == prometheus::MetricType::Counter) m.counter.value = value;
  else m.gauge.value = value;
  family.metric.push_back(std::move(m));
}

void Metrics::feedback(const std::string& route, const std::string& model, double score) {
  const std::map<std::string, std::string> labels{{"route", route}, {"model", model}};
  feedback_.Add(labels).Increment();
  feedback_score_.Add(labels).Increment(score);
}

Metrics::Savings Metrics::savings(const std::string& route) {
  return {&spent_.Add({{"route", route}}), &baseline_.Add({{"route", route}})};
}

Metrics::WastedUsd Metrics::race_wasted_usd(const std::string& route) {
  return {&race_wasted_.Add({{"route", route}, {"billed", "usage"}}),
          &race_wasted_.Add({{"route", route}, {"billed", "tokens_seen"}}),
          &race_wasted_.Add({{"route", route}, {"billed", "estimate"}})};
}

LazyCounters& Metrics::hedges(const std::string& route) {
  auto& hedges = lazy(hedges_, {{"route", route}}, "outcome");
  hedges.inc(0, "fired", 0);  // the keys hedge.cpp counts them by
  hedges.inc(1, "won", 0);
  hedges.inc(2, "over_budget", 0);
  return hedges;
}

void Metrics::config_reload(bool ok) {
  reloads_.Add({{"result", ok ? "success" : "failure"}}).Increment();
}

void Metrics::add_source(std::weak_ptr<const prometheus::Collectable> source) {
  std::lock_guard lock(mutex_);
  sources_.push_back(std::move(source));
}

std::string Metrics::serialize() const {
  auto families = registry_->Collect();
  for (const auto* h : {&tokens_, &estimated_tokens_, &duration_, &ttft_, &overhead_})
    for (auto& f : h->Collect()) families.push_back(std::move(f));
  std::vector<std::shared_ptr<const prometheus::Collectable>> sources;
  {
    std::lock_guard lock(mutex_);
    for (const auto& s : sources_)
      if (auto live = s.lock()) sources.push_back(std::move(live));
  }
  for (const auto& s : sources)
    for (auto& f : s->Collect()) families.push_back(std::move(f));
  return prom::TextSerializer().Serialize(families);
}

}  // namespace switchyard

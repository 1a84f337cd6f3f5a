// The data path's steps one at a time, as a request meets them: parsing a chat request (1, 16
// and 128 KB), the body forwarded upstream, each selection stage of a full route (cache miss,
// classifier, scorer) and the whole routing decision, the SSE relay's work per event, the
// metrics recorded per request, and the access-log line. Different requests are taken in turn so that no cache
// stays warm with one. Run: build/release/bench/micro/data_path_bench
#include "api/request.hpp"
#include "core/line_ring.hpp"
#include "metrics/metrics.hpp"
#include "router/resolve.hpp"
#include "router/snapshot.hpp"
#include "server/access_log.hpp"
#include "upstream/sse.hpp"

#include <benchmark/benchmark.h>
#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <string>
#include <vector>

namespace {

using namespace switchyard;

// 64 different chat requests of about `kb` KB (1 by default), as bench/proxy.sh sends.
std::vector<std::string> bodies(std::size_t kb = 1) {
  std::vector<std::string> out;
  for (int i = 0; i < 64; ++i) {
    std::string note;
    while (note.size() < kb * 1024 - 124) note += "Summarise the following note for a colleague. ";
    out.push_back(nlohmann::json{{"model", "auto"},
                                 {"messages",
                                  {{{"role", "system"}, {"content", "You are a helpful assistant."}},
                                   {{"role", "user"},
                                    {"content", note + " Note " + std::to_string(i)}}}}}
                      .dump());
  }
  return out;
}

std::vector<ApiRequest> requests() {
  std::vector<ApiRequest> out;
  for (const auto& b : bodies()) out.push_back(*parse_api_request(Endpoint::chat_completions, b));
  return out;
}

// The full route of bench/proxy/switchyard.yaml.
std::shared_ptr<const Snapshot> full_route(Metrics& metrics) {
  auto loaded = parse_config(R"(
upstreams:
  - name: json
    base_url: http://127.0.0.1:1/v1
    models:
      - {name: bench, price_usd_per_mtok: {input: 1, output: 2}}
      - {name: bench-b, price_usd_per_mtok: {input: 3, output: 6}}
routes:
  auto:
    stages:
      - {type: cache, ttl_s: 300}
      - type: classifier
        rules:
          - {label: code, when: {code: true}, confidence: 0.95}
          - {label: code, when: {keywords: [python, sql, regex, function]}, confidence: 0.8}
          - {label: reasoning, when: {regex: '(?i)\b(how many|prove|why)\b'}, confidence: 0.7}
          - {label: long, when: {tokens_over: 2000}}
        tiers: {code: [bench-b, bench], reasoning: [bench-b], long: [bench-b]}
        default: [bench, bench-b]
      - {type: scorer, cost_weight: 0.5, latency_weight: 0.02, output_tokens: 64}
    dispatcher: {type: single}
)",
                             "bench.yaml");
  auto built = build_snapshot(std::move(*loaded.config), metrics);
  if (!built.snapshot) std::abort();
  return built.snapshot;
}

class NoUpstreams final : public UpstreamSet {
 public:
  Upstream& at(std::uint32_t) override { std::abort(); }
};

// A request of state.range(0) KB.
void BM_ParseRequest(benchmark::State& state) {
  const auto all = bodies(static_cast<std::size_t>(state.range(0)));
  std::size_t next = 0;
  for (auto _ : state) {
    auto r = parse_api_request(Endpoint::chat_completions, all[next++ % all.size()]);
    benchmark::DoNotOptimize(r);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * all.front().size()));
}
BENCHMARK(BM_ParseRequest)->Arg(1)->Arg(16)->Arg(128);

void BM_ForwardBody(benchmark::State& state) {
  const auto all = requests();
  std::size_t next = 0;
  for (auto _ : state) {
    auto body = forward_body(all[next++ % all.size()], "bench-model-id", UsageOption::request);
    benchmark::DoNotOptimize(body);
  }
}
BENCHMARK(BM_ForwardBody);

// One stage of the full route (0: cache, a miss; 1: classifier; 2: scorer), after the ones
// before it, on a fresh request context.
void BM_Stage(benchmark::State& state) {
  Metrics metrics;
  const auto snap = full_route(metrics);
  const auto& stages = snap->routes.at("auto").stages;
  const auto which = static_cast<std::size_t>(state.range(0));
  auto all = requests();
  NoUpstreams ups;
  std::size_t next = 0;
  for (auto _ : state) {
    state.PauseTiming();
    RouteContext ctx(*snap, all[next++ % all.size()], ups);
    for (std::size_t i = 0; i < which; ++i) (void)stages[i]->apply(ctx);
    state.ResumeTiming();
    auto r = stages[which]->apply(ctx);
    benchmark::DoNotOptimize(r);
  }
  state.SetLabel(which == 0 ? "cache (miss)" : which == 1 ? "classifier" : "scorer");
}
BENCHMARK(BM_Stage)->Arg(0)->Arg(1)->Arg(2);

// The whole decision: the route's stages in order, the candidates ordered.
void BM_RoutingDecision(benchmark::State& state) {
  Metrics metrics;
  const auto snap = full_route(metrics);
  auto all = requests();
  NoUpstreams ups;
  std::size_t next = 0;
  for (auto _ : state) {
    RouteContext ctx(*snap, all[next++ % all.size()], ups);
    auto r = resolve(ctx);
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(BM_RoutingDecision);

// What the relay does per event before it writes it: split it out of what was read, check that
// its data is JSON, look for usage. Reported per event.
void BM_SseRelayPerEvent(benchmark::State& state) {
  std::string read;
  for (int i = 0; i < 8; ++i)
    read += R"(data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1,"model":"bench","choices":[{"index":0,"delta":{"content":" word"},"finish_reason":null}]})"
            "\n\n";
  read += "data: [DONE]\n\n";
  std::int64_t events = 0;
  for (auto _ : state) {
    SseSplitter sse;
    sse.feed(read);
    for (auto ev = sse.next(); !ev.empty(); ev = sse.next()) {
      const auto data = ev.substr(6, ev.size() - 8);
      benchmark::DoNotOptimize(data == "[DONE]" || is_bounded_json(data, 256));
      benchmark::DoNotOptimize(ev.find("\"usage\""));
      ++events;
    }
  }
  state.SetItemsProcessed(events);
}
BENCHMARK(BM_SseRelayPerEvent);

// The metrics a request answered records: its status, token counts, duration and cost.
void BM_MetricRecording(benchmark::State& state) {
  Metrics metrics;
  const auto snap = full_route(metrics);
  const ModelMetrics& mm = *snap->models.at("bench").front()->metrics;
  for (auto _ : state) {
    mm.requests_by_code.inc(200, "200");
    mm.token_usage.at(0).observe(250);
    mm.token_usage.at(1).observe(9);
    mm.duration.at(0).observe(0.0012);
    metrics.overhead().observe(0.0001);
  }
}
BENCHMARK(BM_MetricRecording);

// An access-log line: formatted, and copied into the worker's ring, drained to /dev/null as the
// writer thread would (the drain counted in).
void BM_AccessLogLine(benchmark::State& state) {
  LineRing ring;
  const int null = ::open("/dev/null", O_WRONLY);
  std::string line;
  AccessRecord r;
  r.request_id = "req_0123456789abcdef";
  r.client = "team-a";
  r.route = "auto";
  r.model = "bench";
  r.upstream = "json";
  r.status = 200;
  r.attempts = 1;
  r.usage = {250, 9, true};
  r.cost_usd = 0.000268;
  r.duration = std::chrono::microseconds(1234);
  std::int64_t n = 0;
  for (auto _ : state) {
    line.clear();
    format_access_line(r, false, line);
    ring.push(line);
    if (++n % 1000 == 0) ring.drain(null);
  }
  ::close(null);
}
BENCHMARK(BM_AccessLogLine);

}  // namespace

BENCHMARK_MAIN();

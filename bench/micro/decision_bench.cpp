// The learned router's whole decision for one request, with the parse already done: features,
// prediction for 11 models, scoring and ordering (the `learned` stage's apply()). Reports the
// mean, and the median and 99th percentile of single decisions in microseconds, over 512
// different 1 KB prompts taken in turn. Run: build/release/bench/micro/decision_bench
#include "api/request.hpp"
#include "metrics/metrics.hpp"
#include "router/learned/model.hpp"
#include "router/resolve.hpp"
#include "router/snapshot.hpp"

#include <benchmark/benchmark.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <random>

namespace {

using namespace switchyard;

constexpr int kModels = 11;

// A model file with random weights of the size `train` writes (2^14 hashed features, 11 models).
std::string write_model() {
  LearnedModel m;
  std::mt19937 rng(7);
  std::normal_distribution<float> w(0, 0.3f);
  for (int i = 0; i < kModels; ++i) {
    m.models.push_back("m" + std::to_string(i));
    m.mean_quality.push_back(0.5 + 0.03 * i);
    m.mean_cost.push_back(1e-4 * (i + 1));
  }
  m.strongest = kModels - 1;
  m.reference_cost = m.mean_cost.back();
  m.space.hash_bits = 14;
  m.weights.resize(std::size_t{m.features()} * 2 * kModels);
  for (auto& x : m.weights) x = w(rng);
  auto path = (std::filesystem::temp_directory_path() / "switchyard-bench.swr").string();
  if (!m.save(path)) std::abort();
  return path;
}

// About 1 KB of text drawn from a 5,000-word vocabulary (a few words common, most rare; words of
// 2 to 9 letters, about 170 words per KB as in English prose), a different text for each seed,
// so that successive decisions touch different weights, as real traffic does, rather than one
// prompt's weights kept warm in cache.
std::string prompt_1kb(unsigned seed) {
  std::mt19937 rng(seed);
  std::string text;
  while (text.size() < 1000) {
    const unsigned rank =
        static_cast<unsigned>(5000 * std::pow(std::generate_canonical<double, 32>(rng), 3.0));
    std::string word;
    for (unsigned r = rank + 1, n = 2 + rank % 8; n; --n, r = r * 7 + 3)
      word += static_cast<char>('a' + r % 26);
    text += word;
    text += rng() % 12 == 0 ? ".\n" : " ";
  }
  return text;
}

class NoUpstreams final : public UpstreamSet {
 public:
  Upstream& at(std::uint32_t) override { std::abort(); }
};

void BM_LearnedDecision(benchmark::State& state) {
  const auto model = write_model();
  std::string yaml = "upstreams:\n  - name: u\n    base_url: http://127.0.0.1:1/v1\n    models:\n";
  std::string names;
  for (int i = 0; i < kModels; ++i) {
    yaml += "      - {name: m" + std::to_string(i) +
            ", price_usd_per_mtok: {input: " + std::to_string(i + 1) + ", output: 2}}\n";
    names += (i ? ", m" : "m") + std::to_string(i);
  }
  yaml += "routes:\n  auto:\n    stages:\n      - {type: learned, model: " + model +
          ", models: [" + names + "], cost_weight: 0.2}\n";
  auto loaded = parse_config(yaml, "bench.yaml");
  Metrics metrics;
  auto built = build_snapshot(std::move(*loaded.config), metrics);
  if (!built.snapshot) {
    state.SkipWithError(built.error.c_str());
    return;
  }
  const auto& stage = *built.snapshot->routes.at("auto").stages.front();
  std::vector<ApiRequest> requests;
  for (unsigned i = 0; i < 512; ++i)
    requests.push_back(*parse_api_request(
        Endpoint::chat_completions, R"({"model":"auto","messages":[{"role":"user","content":)" +
                                        nlohmann::json(prompt_1kb(i)).dump() + "}]}"));
  NoUpstreams ups;
  std::vector<double> micros;
  micros.reserve(1 << 22);
  std::size_t next = 0;
  for (auto _ : state) {
    RouteContext ctx(*built.snapshot, requests[next++ % requests.size()], ups);
    const auto start = std::chrono::steady_clock::now();
    auto r = stage.apply(ctx);
    const auto end = std::chrono::steady_clock::now();
    benchmark::DoNotOptimize(r);
    benchmark::DoNotOptimize(ctx.candidates.data());
    micros.push_back(std::chrono::duration<double, std::micro>(end - start).count());
  }
  std::sort(micros.begin(), micros.end());
  state.counters["p50_us"] = micros[micros.size() / 2];
  state.counters["p99_us"] = micros[micros.size() * 99 / 100];
  state.counters["prompt_bytes"] = static_cast<double>(requests.front().prompt.text.size());
  std::filesystem::remove(model);
}
BENCHMARK(BM_LearnedDecision)->Unit(benchmark::kMicrosecond)->MinTime(2.0);

}  // namespace

BENCHMARK_MAIN();

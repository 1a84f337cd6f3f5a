// Recording one finished call into the live statistics of an (upstream, model), as every worker
// does after every upstream call, from 1 and 2 threads at once (the cores of the machine it was
// measured on; more show the same). Each thread is a fresh std::thread recording 200,000 calls,
// so it takes a shard of its own as a worker does; the merges (one per second of the calls'
// clock, which advances 1 µs a call) are counted in. Reports ns per call per thread.
// Run: build/release/bench/micro/stats_bench
#include "switchyard/live.hpp"

#include <benchmark/benchmark.h>

#include <thread>
#include <vector>

namespace {

using namespace switchyard;

constexpr int kCalls = 200'000;

void BM_RecordOutcome(benchmark::State& state) {
  TargetStats stats;  // shared by the threads, as by the workers
  const auto threads = static_cast<int>(state.range(0));
  double seconds = 0;
  for (auto _ : state) {
    const auto start = std::chrono::steady_clock::now();
    std::vector<std::thread> running;
    running.reserve(static_cast<std::size_t>(threads));
    for (int t = 0; t < threads; ++t)
      running.emplace_back([&stats, t] {
        CallOutcome o;
        o.ok = true;
        o.status = 200;
        o.latency = std::chrono::milliseconds(120 + t);
        o.time_to_first_token = std::chrono::milliseconds(30);
        o.output_tokens = 64;
        for (int i = 0; i < kCalls; ++i) {
          o.finished = SteadyTime(std::chrono::microseconds(i));
          stats.record(o);
        }
      });
    for (auto& t : running) t.join();
    const std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
    state.SetIterationTime(took.count());
    seconds += took.count();
  }
  // Each thread made kCalls calls in the iteration's time.
  state.counters["ns_per_call"] = 1e9 * seconds / (static_cast<double>(state.iterations()) * kCalls);
}
BENCHMARK(BM_RecordOutcome)->Arg(1)->Arg(2)->UseManualTime()->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();

// Health through real sockets: a simulated model goes down, fails half its calls or slows down,
// behind a gateway whose route prefers it; the circuit breaker (or, for the slowdown, the
// scorer's latency limit) moves the traffic off it, and back once it recovers, without a client
// seeing an error. Bounded: at most 26 s of requests from four clients, to 127.0.0.1 only.
#include "support/fixture.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <iostream>
#include <map>
#include <mutex>
#include <thread>

namespace switchyard::test {
namespace {

using namespace std::chrono_literals;

struct Sample {
  double t;  // seconds after the sim started
  int status;
  std::string model, attempts;
};

// The route of the tests but the last: a first, b if a fails or its breaker is open.
constexpr const char* kPreferA = "[{type: static, models: [a, b]}]";
constexpr int kClients = 4;

// A sim whose model a has `episode` (b is always well; a answers in 20 ms, b in 60), behind a
// gateway whose route runs `stages`, with the breaker's defaults (open after 5 failures in a row
// or half the calls, for 2 s, doubling up to 10 s); requests with `headers` from kClients
// clients for `seconds`. Returns them, in the order they ended, and /metrics after.
std::pair<std::vector<Sample>, std::string> run(
    const std::string& episode, double seconds, const std::string& stages = kPreferA,
    const std::map<std::string, std::string>& headers = {}) {
  TempDir dir;
  auto fleet = sim::load_fleet(dir.write("fleet.yaml", R"(time_scale: 1
models:
  - name: a
    ttft_ms: {median: 20, sigma: 0}
    tokens_per_s: {median: 0}
    episodes:
      - )" + episode + R"(
  - name: b
    ttft_ms: {median: 60, sigma: 0}
    tokens_per_s: {median: 0}
)"));
  EXPECT_TRUE(fleet) << fleet.error().message;
  if (!fleet) return {};
  SimOptions o;
  o.fleet = std::shared_ptr<sim::Fleet>(std::move(*fleet));
  auto sim = start_sim(o);
  const auto t0 = std::chrono::steady_clock::now();
  GatewayUnderTest gw(fmt::format(R"(
upstreams:
  - name: sim
    base_url: http://127.0.0.1:{}/v1
    models: [{{name: a}}, {{name: b}}]
routes:
  auto:
    stages: {}
)",
                                  sim->port(), stages));
  std::vector<Sample> samples;
  std::mutex mutex;
  const auto until = t0 + std::chrono::duration<double>(seconds);
  // kClients clients, each one request at a time and at most one every 20 ms (back to back
  // when they take longer): enough requests that the few probes a breaker lets through are a
  // small share of them, however slow the machine.
  auto client = [&] {
    for (auto next = std::chrono::steady_clock::now(); next < until;
         next = std::max(next + 20ms, std::chrono::steady_clock::now())) {
      std::this_thread::sleep_until(next);
      auto r = post_json(gw.port(), "/v1/chat/completions", chat_body("auto"), headers);
      const std::chrono::duration<double> t = std::chrono::steady_clock::now() - t0;
      std::lock_guard lock(mutex);
      samples.push_back({t.count(), r.status, r.header("x-switchyard-model"),
                         r.header("x-switchyard-attempts")});
    }
  };
  std::vector<std::thread> clients;
  clients.reserve(kClients);
  for (int i = 0; i < kClients; ++i) clients.emplace_back(client);
  for (auto& c : clients) c.join();
  std::sort(samples.begin(), samples.end(),
            [](const Sample& x, const Sample& y) { return x.t < y.t; });
  return {std::move(samples), http_request(gw.port(), "GET", "/metrics").body};
}

// The share of requests in [from, to) s whose first call went to a: answered by a, or by b
// after a failed.
double share_first_to_a(const std::vector<Sample>& samples, double from, double to) {
  int n = 0, a = 0;
  std::string when;  // for a failure's message: when a was tried, and what it did
  for (const auto& s : samples) {
    if (s.t < from || s.t >= to) continue;
    ++n;
    const bool tried = s.model == "a" || s.attempts == "2";
    a += tried;
    if (tried) when += fmt::format(" {:.2f}{}", s.t, s.model == "a" ? "" : "x");
  }
  EXPECT_GT(n, 10) << from << ".." << to;  // enough requests to judge
  if (a > 0 && a < n) std::cerr << "a tried in " << from << ".." << to << " s at:" << when << "\n";
  return n ? static_cast<double>(a) / n : 0.0;
}

TEST(Health, TrafficLeavesAModelInAnOutageAndComesBackAfterIt) {
  auto [samples, metrics] = run("{type: outage, start_s: 1.5, end_s: 4.5}", 10.5);
  for (const auto& s : samples) EXPECT_EQ(s.status, 200) << "at " << s.t << " s";
  EXPECT_EQ(share_first_to_a(samples, 0, 1.4), 1.0);  // healthy: the route's first choice
  // Within a second of the outage, at most 5% of requests still try a (the probes).
  EXPECT_LE(share_first_to_a(samples, 2.5, 4.5), 0.05);
  // Back on a by the latest the breaker can turn half-open after the outage: opened at 1.5 s
  // for 2 s, its probe failed (the outage ends at 4.5 s), then 4 s, each plus up to 20%: 8.7 s
  // and the requests under way then. It stays there.
  EXPECT_EQ(share_first_to_a(samples, 9.5, 10.5), 1.0);
  EXPECT_NE(metrics.find(R"(switchyard_breaker_state{model="a",upstream="sim"} 0)"),
            std::string::npos);
  EXPECT_NE(metrics.find(R"(switchyard_breaker_opened_total{model="a",upstream="sim"})"),
            std::string::npos);
}

TEST(Health, TrafficLeavesAModelThatFailsHalfItsCallsAndIsBackWithin15sOfTheEnd) {
  // Never five failures in a row for long, but half of all calls: the error share opens it,
  // and probes that happen to succeed do not bring the traffic back for long (a relapse waits
  // longer). Failed probes and relapses double the wait up to 10 s (plus 20% jitter), so the
  // way back is at its longest after a long episode: 12 s and the probes.
  auto [samples, metrics] = run("{type: error_burst, start_s: 1, end_s: 8, error_rate: 0.5}", 23);
  for (const auto& s : samples) EXPECT_EQ(s.status, 200) << "at " << s.t << " s";
  EXPECT_LE(share_first_to_a(samples, 3, 8), 0.05);
  EXPECT_GE(share_first_to_a(samples, 22, 23), 0.95);  // within 15 s of the end
}

TEST(Health, ALatencySpikeMovesTrafficUnderALatencyLimit) {
  // a slows from 20 ms to 200 ms; callers allow 150 ms at the 95th percentile. Nothing fails,
  // so the breaker stays closed: the scorer drops a once its recent p95 breaks the limit, and
  // takes it back once its slow answers have left the p95's window (10 to 20 s after the last,
  // DurationSketch::kWindow).
  auto [samples, metrics] =
      run("{type: latency_spike, start_s: 1.5, end_s: 6, factor: 10}", 26,
          "[{type: static, models: [a, b]}, {type: scorer}]",
          {{"x-switchyard-max-latency-ms", "150"}});
  for (const auto& s : samples) EXPECT_EQ(s.status, 200) << "at " << s.t << " s";
  EXPECT_EQ(share_first_to_a(samples, 0, 1.4), 1.0);
  EXPECT_LE(share_first_to_a(samples, 4, 6), 0.05);
  EXPECT_GE(share_first_to_a(samples, 25, 26), 0.95);
  EXPECT_NE(metrics.find(R"(switchyard_breaker_state{model="a",upstream="sim"} 0)"),
            std::string::npos);
}

}  // namespace
}  // namespace switchyard::test

// Hedges and races through real sockets, against the sim's faults: the loser of a race is
// cancelled, its connection closed rather than handed to the next request mid-answer, only the
// winner reaches the client (streams too), a race's overlapping calls are not taken for
// gateway overhead, and a call that fails fast starts the next one at once instead of at the
// hedge's delay. Bounded: a few dozen requests to 127.0.0.1.
#include "support/fixture.hpp"

#include <fmt/format.h>

namespace switchyard::test {
namespace {

using namespace std::chrono_literals;

// A sim that answers at once, unless the model id asks for a fault, behind a gateway whose
// `auto` route runs `dispatcher` over `models`.
struct Bench {
  explicit Bench(const std::string& models, const std::string& dispatcher)
      : sim(start_sim()),
        gw(fmt::format(R"(
upstreams:
  - name: sim
    base_url: http://127.0.0.1:{}/v1
    models:
      - {{name: slow, id: "m;delay_ms=3000"}}
      - {{name: mute, id: "m;stall_first_byte"}}
      - {{name: reset, id: "m;reset"}}
      - {{name: quick, id: "m"}}
routes:
  auto:
    stages: [{{type: static, models: {}}}]
    dispatcher: {}
)",
                       sim->port(), models, dispatcher)) {}
  HttpResponse ask(const std::string& extra = {}) {
    return post_json(gw.port(), "/v1/chat/completions", chat_body("auto", extra));
  }
  double count(const std::string& series) {
    return metric(http_request(gw.port(), "GET", "/metrics").body, series);
  }
  std::unique_ptr<SimServer> sim;
  GatewayUnderTest gw;
};

constexpr int kRequests = 8;

TEST(HedgeSockets, SlowAndSilentCallsAreHedgedAndTheirConnectionsClosed) {
  for (const char* first : {"slow", "mute"}) {
    SCOPED_TRACE(first);
    Bench s(fmt::format("[{}, quick]", first), "{type: hedge, delay: fixed, delay_ms: 100, budget: 1}");
    for (int i = 0; i < kRequests; ++i) {
      const auto start = std::chrono::steady_clock::now();
      auto r = s.ask();
      EXPECT_EQ(r.status, 200) << r.body;
      EXPECT_EQ(r.header("x-switchyard-model"), "quick");
      EXPECT_EQ(r.header("x-switchyard-attempts"), "2");
      EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);  // not the 3 s answer
    }
    EXPECT_EQ(s.count(R"(switchyard_hedges_total{outcome="fired",route="auto"})"), kRequests);
    EXPECT_EQ(s.count(R"(switchyard_hedges_total{outcome="won",route="auto"})"), kRequests);
    EXPECT_EQ(s.count(fmt::format(
                  R"(switchyard_race_calls_total{{model="{}",result="lost",route="auto"}})", first)),
              kRequests);
    // Every cancelled call's connection was closed, not pooled: each call to the first model
    // took a new one, and the requests after it got whole answers of their own.
    EXPECT_GE(s.sim->stats().connections.load(), static_cast<std::uint64_t>(kRequests));
    // The slow model's sim writes its answer after 3 s, finds the connection closed and lets
    // it go: then only the quick model's pooled connections (one per worker) are left. (The
    // silent one never writes, so the sim never notices.)
    if (std::string(first) == "slow") {
      EXPECT_TRUE(eventually([&] { return s.sim->stats().open_connections.load() <= 2; }, 6s))
          << s.sim->stats().open_connections.load() << " connections still open";
    }
  }
}

TEST(HedgeSockets, AStreamComesWholeFromTheWinnerAlone) {
  Bench s("[slow, quick]", "{type: hedge, delay: fixed, delay_ms: 100, budget: 1}");
  for (int i = 0; i < kRequests; ++i) {
    auto r = s.ask(R"("stream":true)");
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.header("x-switchyard-model"), "quick");
    std::size_t done = 0, at = 0;
    while ((at = r.body.find("data: [DONE]", at)) != std::string::npos) ++done, ++at;
    EXPECT_EQ(done, 1u) << r.body;  // one stream, not two interleaved
    EXPECT_EQ(r.body.find("error"), std::string::npos) << r.body;
  }
  EXPECT_TRUE(eventually([&] { return s.sim->stats().open_connections.load() <= 2; }, 6s))
      << s.sim->stats().open_connections.load() << " connections still open";
}

TEST(HedgeSockets, AResetStartsTheNextCallAtOnceNotAtTheDelay) {
  Bench s("[reset, quick]", "{type: hedge, delay: fixed, delay_ms: 5000}");
  const auto start = std::chrono::steady_clock::now();
  auto r = s.ask();
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.header("x-switchyard-model"), "quick");
  EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
  EXPECT_EQ(s.count(R"(switchyard_hedges_total{outcome="fired",route="auto"})"), 0);  // never
}

TEST(RaceSockets, TheFirstAnswerWinsAndTheRestAreCancelled) {
  Bench s("[slow, mute, quick]", "{type: race}");
  for (const char* extra : {"", R"("stream":true)"}) {
    const auto start = std::chrono::steady_clock::now();
    auto r = s.ask(extra);
    EXPECT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.header("x-switchyard-model"), "quick");
    EXPECT_EQ(r.header("x-switchyard-attempts"), "3");
    EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
  }
  // A stream's race is counted once its losers have ended, just after the client has its answer.
  EXPECT_TRUE(eventually([&] {
    return s.count(R"(switchyard_race_calls_total{model="quick",result="won",route="auto"})") == 2;
  }));
  EXPECT_EQ(s.count(R"(switchyard_race_calls_total{model="slow",result="lost",route="auto"})"), 2);
  EXPECT_EQ(s.count(R"(switchyard_race_calls_total{model="mute",result="lost",route="auto"})"), 2);
  // Three calls at once are one span of upstream time, not three: what is left of each request
  // is the gateway's own overhead, small and never negative.
  EXPECT_TRUE(eventually([&] { return s.count("switchyard_gateway_overhead_seconds_count") == 2; }));
  const double overhead = s.count("switchyard_gateway_overhead_seconds_sum");
  EXPECT_GE(overhead, 0);
  EXPECT_LT(overhead, 0.5);
}

}  // namespace
}  // namespace switchyard::test

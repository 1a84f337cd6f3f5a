// The circuit breaker of one (upstream, model) on a manual timeline, then the routing it
// drives: resolve() puts open targets last, and the `single` dispatcher stops calling a failing
// upstream first. No socket, no thread.
#include "metrics/metrics.hpp"
#include "router/decision.hpp"
#include "router/resolve.hpp"
#include "support/fakes.hpp"
#include "support/fixture.hpp"
#include "support/manual_clock.hpp"

#include <gtest/gtest.h>

namespace switchyard::test {
namespace {

using std::chrono::milliseconds;
using State = Breaker::State;

class BreakerTest : public ::testing::Test {
 protected:
  void fail(std::uint32_t retry_after_ms = 0) { report(false, milliseconds(10), retry_after_ms); }
  void answer(milliseconds latency = milliseconds(10)) { report(true, latency); }
  void report(bool ok, milliseconds latency, std::uint32_t retry_after_ms = 0,
              Reason reason = Reason::upstream_status) {
    CallOutcome o;
    o.ok = ok;
    o.reason = reason;
    o.latency = latency;
    o.retry_after_ms = retry_after_ms;
    o.finished = now;
    b.record(o, config);
  }
  State state() const { return b.state(now); }

  BreakerConfig config;  // defaults: 5 in a row, 2 s open, doubling up to 10 s, 20% jitter
  Breaker b;
  SteadyTime now = SteadyTime(std::chrono::hours(1000));
};

TEST_F(BreakerTest, OpensOnFailuresInARowAndThreeProbesCloseIt) {
  for (int i = 0; i < 4; ++i) fail();
  answer();  // a success starts the count again
  for (int i = 0; i < 4; ++i) fail();
  EXPECT_EQ(state(), State::closed);
  EXPECT_TRUE(b.admit(now, config));
  fail();
  EXPECT_EQ(state(), State::open);
  EXPECT_FALSE(b.admit(now, config));
  EXPECT_EQ(b.times_opened(), 1u);

  now += milliseconds(1900);
  EXPECT_EQ(state(), State::open);
  now += milliseconds(600);  // past 2 s and the most jitter can add
  EXPECT_EQ(state(), State::half_open);
  for (int probe = 0; probe < 3; ++probe) {
    EXPECT_EQ(state(), State::half_open);
    EXPECT_TRUE(b.admit(now, config));   // the probe
    EXPECT_FALSE(b.admit(now, config));  // only one at a time
    answer();
  }
  EXPECT_EQ(state(), State::closed);
  EXPECT_TRUE(b.admit(now, config));
  // Closed, it takes five failures in a row again: 9 of its 10 calls failed, but the share is
  // judged only from min_calls calls on.
  for (int i = 0; i < 4; ++i) fail();
  EXPECT_EQ(state(), State::closed);
}

TEST_F(BreakerTest, AFailedProbeOpensItForTwiceAsLongUpToTheMaximum) {
  for (int i = 0; i < 5; ++i) fail();
  milliseconds expected(2000);
  for (int round = 0; round < 5; ++round) {
    now += expected - milliseconds(1);
    EXPECT_EQ(state(), State::open) << "round " << round;
    now += expected / 5 + milliseconds(2);
    ASSERT_EQ(state(), State::half_open) << "round " << round;
    ASSERT_TRUE(b.admit(now, config));
    fail();
    expected = std::min(expected * 2, milliseconds(config.max_open_ms));
  }
  EXPECT_EQ(b.times_opened(), 6u);
}

TEST_F(BreakerTest, ARelapseSoonAfterACloseWaitsLongerAndALaterOneStartsOver) {
  // Opened (2 s), a failed probe (4 s), then three probes that pass by luck close it.
  auto wait_then_close = [&](milliseconds wait) {
    now += wait;
    for (int probe = 0; probe < 3; ++probe) {
      ASSERT_TRUE(b.admit(now, config));
      answer();
    }
    ASSERT_EQ(state(), State::closed);
  };
  for (int i = 0; i < 5; ++i) fail();
  now += milliseconds(2401);
  ASSERT_TRUE(b.admit(now, config));
  fail();
  wait_then_close(milliseconds(4801));
  // Five failures in a row a second later: a relapse, so 8 s, not 2 s.
  now += milliseconds(1000);
  for (int i = 0; i < 5; ++i) fail();
  ASSERT_EQ(state(), State::open);
  now += milliseconds(7999);
  EXPECT_EQ(state(), State::open);
  wait_then_close(milliseconds(1602));  // past 8 s and the most jitter can add
  // Closed for longer than max_open_ms: the next opening starts at 2 s again.
  now += milliseconds(config.max_open_ms);
  for (int i = 0; i < 5; ++i) fail();
  ASSERT_EQ(state(), State::open);
  now += milliseconds(2401);
  EXPECT_EQ(state(), State::half_open);
}

TEST_F(BreakerTest, OpensOnTheErrorRatioOverEnoughCalls) {
  // Two failures, one answer: never five in a row, but two in three calls fail.
  int calls = 0;
  while (state() == State::closed && calls < 100) {
    if (calls % 3 == 2) answer();
    else fail();
    ++calls;
    if (calls < 20) {
      ASSERT_EQ(state(), State::closed) << calls;  // not enough calls yet
    }
  }
  EXPECT_EQ(calls, 20);
  // One failure in ten does not open it.
  Breaker healthy;
  for (int i = 0; i < 200; ++i) {
    CallOutcome o;
    o.ok = i % 10 != 0;
    o.finished = now;
    healthy.record(o, config);
  }
  EXPECT_EQ(healthy.state(now), State::closed);
}

TEST_F(BreakerTest, OpensWhenAnswersAreSlowerThanTheCeiling) {
  config.latency_ceiling_ms = 100;
  for (int i = 0; i < 40; ++i) answer(milliseconds(50));
  EXPECT_EQ(state(), State::closed);
  for (int i = 0; i < 30 && state() == State::closed; ++i) answer(milliseconds(400));
  EXPECT_EQ(state(), State::open);
  // A probe that answers, but too slowly, opens it again.
  now += milliseconds(2500);
  ASSERT_TRUE(b.admit(now, config));
  answer(milliseconds(400));
  EXPECT_EQ(state(), State::open);
}

TEST_F(BreakerTest, RetryAfterOpensItForThatLong) {
  fail(7000);
  EXPECT_EQ(state(), State::open);
  now += milliseconds(6999);
  EXPECT_EQ(state(), State::open);
  now += milliseconds(1402);  // and at most 20% jitter
  EXPECT_EQ(state(), State::half_open);
}

TEST_F(BreakerTest, CallsFromBeforeItOpenedAndCancelledCallsSayNothing) {
  for (int i = 0; i < 5; ++i) fail();
  now += milliseconds(500);
  answer();  // was in flight when it opened
  EXPECT_EQ(state(), State::open);
  now += milliseconds(2000);
  ASSERT_TRUE(b.admit(now, config));
  report(false, milliseconds(1), 0, Reason::cancelled);  // the client hung up on the probe
  EXPECT_EQ(state(), State::half_open);
  EXPECT_TRUE(b.admit(now, config));  // the probe is free again
  // Nor does the gateway's own max_concurrent turning calls away.
  for (int i = 0; i < 3; ++i) answer();
  ASSERT_EQ(state(), State::closed);
  for (int i = 0; i < 10; ++i) report(false, milliseconds(0), 0, Reason::upstream_saturated);
  EXPECT_EQ(state(), State::closed);
}

TEST_F(BreakerTest, AnOpeningAnotherReplicaToldIsKeptAndProbedHereButNeverToldOn) {
  EXPECT_FALSE(b.opened_here_until(now));
  b.adopt(now + milliseconds(3000));
  EXPECT_EQ(state(), State::open);
  EXPECT_FALSE(b.admit(now, config));
  EXPECT_FALSE(b.opened_here_until(now));  // not ours to tell
  EXPECT_EQ(b.times_opened(), 0u);
  b.adopt(now + milliseconds(1000));  // a shorter one changes nothing
  now += milliseconds(2999);
  EXPECT_EQ(state(), State::open);
  now += milliseconds(1);
  ASSERT_EQ(state(), State::half_open);
  ASSERT_TRUE(b.admit(now, config));  // this replica probes for itself
  fail();
  EXPECT_EQ(state(), State::open);
  const auto told = b.opened_here_until(now);  // its own opening, to tell the others
  ASSERT_TRUE(told);
  EXPECT_GE(*told - now, milliseconds(2000));
  EXPECT_EQ(b.times_opened(), 1u);
  // A longer opening told while a probe is in flight: the probe's answer says nothing.
  now = *told;
  ASSERT_TRUE(b.admit(now, config));
  b.adopt(now + milliseconds(5000));
  answer();
  EXPECT_EQ(state(), State::open);
  now += milliseconds(5000);
  EXPECT_EQ(state(), State::half_open);
  EXPECT_FALSE(b.opened_here_until(now));
}

TEST(DurationSketch, NinetyFifthPercentileOfTheLastWindows) {
  DurationSketch s;
  SteadyTime now(std::chrono::hours(1000));
  EXPECT_EQ(s.quantile(0.95, now).count(), 0);
  for (int i = 1; i <= 100; ++i) s.record(milliseconds(10 * i), now);  // 10 ms .. 1 s
  auto ms_at = [&](double q) {
    return std::chrono::duration<double, std::milli>(s.quantile(q, now)).count();
  };
  EXPECT_GE(ms_at(0.95), 950);
  EXPECT_LE(ms_at(0.95), 950 * 1.19);
  EXPECT_GE(ms_at(0.5), 500);
  EXPECT_LE(ms_at(0.5), 500 * 1.19);
  // The next window still counts the last one; the one after forgets it.
  now += std::chrono::seconds(10);
  for (int i = 0; i < 100; ++i) s.record(milliseconds(5), now);
  EXPECT_GE(s.quantile(0.95, now), milliseconds(500));
  now += std::chrono::seconds(10);
  for (int i = 0; i < 100; ++i) s.record(milliseconds(5), now);
  EXPECT_LE(s.quantile(0.95, now), milliseconds(6));
  // Nothing for two windows: nothing to say.
  now += std::chrono::seconds(20);
  EXPECT_EQ(s.quantile(0.95, now).count(), 0);
  // Longer than the last bucket, and shorter than the first.
  s.record(std::chrono::hours(1), now);
  EXPECT_GE(s.quantile(1, now), std::chrono::seconds(60));
  s.record(std::chrono::microseconds(10), now);
  EXPECT_LE(s.quantile(0.5, now), milliseconds(2));
}

TEST(BreakerRouting, OpenTargetsGoLastAndAHalfOpenOneGetsOneProbe) {
  Metrics metrics;
  auto snap = two_upstreams(metrics, "ok", "ok");
  ManualClock clock;
  FakeUpstreams ups(clock);
  std::string decision;
  auto order = [&] {
    auto req = chat_request();
    RouteContext ctx(*snap, req, ups, clock);
    EXPECT_TRUE(resolve(ctx));
    std::string out;
    for (const auto* t : ctx.candidates) out += t->upstream_config->name;
    decision = decision_json(ctx.decision);
    return out;
  };
  EXPECT_EQ(order(), "ab");
  const Target* a = snap->models.at("m")[0];
  for (int i = 0; i < 5; ++i) {
    CallOutcome o{a, false, Reason::connect};
    o.finished = clock.now();
    snap->registry->report(o);
  }
  EXPECT_EQ(order(), "ba");
  EXPECT_EQ(decision, R"({"breaker_open":[{"model":"m","upstream":"a"}]})");
  EXPECT_EQ(order(), "ba");
  clock.advance(milliseconds(2500));
  EXPECT_EQ(order(), "ab");  // this request probes a
  EXPECT_EQ(order(), "ba");  // the others wait for its answer
}

TEST(BreakerRouting, AFailingUpstreamStopsBeingCalledFirst) {
  Metrics metrics;
  auto snap = two_upstreams(metrics, "status=503", "ok");
  ManualClock clock;
  FakeUpstreams ups(clock);
  auto attempts = [&] {
    auto req = chat_request();
    RouteContext ctx(*snap, req, ups, clock);
    auto dispatcher = resolve(ctx);
    EXPECT_TRUE(dispatcher);
    RecordingWriter out;
    EXPECT_TRUE(run((*dispatcher)->dispatch(ctx, out)));
    EXPECT_EQ(out.headers["x-switchyard-upstream"], "b");
    return ctx.attempts.size();
  };
  for (int i = 0; i < 5; ++i) EXPECT_EQ(attempts(), 2u) << i;
  EXPECT_EQ(attempts(), 1u);  // a's breaker is open: b first
  EXPECT_EQ(ups.upstreams[0].bodies.size(), 5u);
  // With the breaker off, every request tries a first.
  auto off = snapshot_from_yaml(metrics, R"(
upstreams:
  - {name: a, base_url: "http://127.0.0.1:1/v1", breaker: {enabled: false},
     models: [{name: m, id: "status=503"}]}
  - {name: b, base_url: "http://127.0.0.1:1/v1", models: [{name: m, id: ok}]}
)");
  ASSERT_TRUE(off);
  snap = off;
  for (int i = 0; i < 7; ++i) EXPECT_EQ(attempts(), 2u) << i;
}

TEST(BreakerMetrics, ScrapesShowEachTargetsBreakerAndStatistics) {
  Metrics metrics;
  auto snap = snapshot_from_yaml(metrics, R"(
upstreams:
  - {name: a, base_url: "http://127.0.0.1:1/v1", models: [{name: m}]}
)");
  ASSERT_TRUE(snap);
  metrics.add_source(snap->registry);
  EXPECT_NE(metrics.serialize().find(R"(switchyard_breaker_state{model="m",upstream="a"} 0)"),
            std::string::npos);
  CallOutcome o{snap->models.at("m")[0], false, Reason::connect};
  o.finished = system_clock().now();
  for (int i = 0; i < 5; ++i) snap->registry->report(o);
  const Target& t = *snap->models.at("m")[0];
  t.state->in_flight = 2;  // as two calls' slots would
  CallOutcome answered{&t, true};
  answered.latency = std::chrono::milliseconds(400);
  answered.time_to_first_token = std::chrono::milliseconds(100);
  answered.finished = o.finished;
  snap->registry->report(answered);
  const auto text = metrics.serialize();
  for (const char* line : {R"(switchyard_breaker_state{model="m",upstream="a"} 1)",
                           R"(switchyard_breaker_opened_total{model="m",upstream="a"} 1)",
                           R"(switchyard_target_in_flight{model="m",upstream="a"} 2)",
                           R"(switchyard_upstream_in_flight{upstream="a"} 0)"})
    EXPECT_NE(text.find(line), std::string::npos) << line << "\n" << text;
  EXPECT_GT(metric(text, R"(switchyard_target_failure_ratio{model="m",upstream="a"})"), 0.5);
  EXPECT_NEAR(
      metric(text, R"(switchyard_target_time_to_first_token_seconds{model="m",upstream="a"})"),
      0.1, 1e-9);
  // The quantile is its bucket's upper bound: within 19% above.
  const double p95 =
      metric(text, R"(switchyard_target_time_to_first_token_p95_seconds{model="m",upstream="a"})");
  EXPECT_GE(p95, 0.1);
  EXPECT_LE(p95, 0.119);
  // A source that is gone is skipped.
  snap.reset();  // the registry's last owner
  EXPECT_EQ(metrics.serialize().find("switchyard_breaker_state"), std::string::npos);
}

TEST(BreakerConfig, ErrorsNameThePath) {
  auto error = [](const std::string& breaker) {
    auto r = parse_config("upstreams:\n  - name: a\n    base_url: http://127.0.0.1:1/v1\n"
                          "    models: [{name: m}]\n    breaker: " + breaker + "\n", "c.yaml");
    return r.error;
  };
  EXPECT_EQ(error("{error_ratio: 1.5}"),
            "upstreams[0].breaker.error_ratio: must be greater than 0 and at most 1");
  EXPECT_EQ(error("{open_ms: 5000, max_open_ms: 1000}"),
            "upstreams[0].breaker.max_open_ms: must be at least open_ms");
  EXPECT_EQ(error("{opn_ms: 5}"), "upstreams[0].breaker.opn_ms: unknown key");
}

}  // namespace
}  // namespace switchyard::test

// The registry of live per-(upstream, model) state: statistics, sharing across snapshots, and
// the outcome every call reports.
#include "router/registry.hpp"
#include "support/fakes.hpp"
#include "switchyard/extension.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <thread>
#include <vector>

namespace switchyard::test {
namespace {

using std::chrono::milliseconds;

CallOutcome answered(milliseconds latency, milliseconds ttft) {
  CallOutcome o;
  o.ok = true;
  o.status = 200;
  o.latency = latency;
  o.time_to_first_token = ttft;
  return o;
}

CallOutcome failed(Reason reason) {
  CallOutcome o;
  o.reason = reason;
  return o;
}

// Records one call and merges it at once, as a call alone in its second is.
void record(TargetStats& s, const CallOutcome& o) {
  s.record(o);
  s.merge(o.finished);
}

TEST(TargetStats, TracksOutputSpeedAndTheShareOfTimeouts) {
  TargetStats s;
  EXPECT_EQ(s.output_tokens_per_second(), 0);
  auto o = answered(milliseconds(2500), milliseconds(500));
  o.output_tokens = 400;  // over the 2 s after the first token
  record(s, o);
  EXPECT_DOUBLE_EQ(s.output_tokens_per_second(), 200);
  o.output_tokens = 0;  // an answer without output says nothing of speed
  record(s, o);
  EXPECT_DOUBLE_EQ(s.output_tokens_per_second(), 200);
  EXPECT_EQ(s.timeout_rate(), 0);
  record(s, failed(Reason::timeout_first_token));
  EXPECT_DOUBLE_EQ(s.timeout_rate(), 0.1);
  record(s, failed(Reason::upstream_status));  // a failure, but not a timeout
  EXPECT_DOUBLE_EQ(s.timeout_rate(), 0.09);
  EXPECT_GT(s.failure_rate(), s.timeout_rate());
}

TEST(TargetStats, TheFirstAnswerSeedsTheAveragesAndLaterOnesMoveThemByTheWeight) {
  TargetStats s;
  record(s, answered(milliseconds(100), milliseconds(40)));
  EXPECT_EQ(s.latency(), milliseconds(100));
  EXPECT_EQ(s.time_to_first_token(), milliseconds(40));
  record(s, answered(milliseconds(200), milliseconds(40)));
  EXPECT_EQ(s.latency(), milliseconds(110));  // 100 + 0.1 × (200 − 100)
  EXPECT_EQ(s.calls(), 2u);
  EXPECT_EQ(s.failures(), 0u);
  EXPECT_EQ(s.failure_rate(), 0.0);
}

TEST(TargetStats, AfterAQuietSpellTheNextCallsDecide) {
  TargetStats s;
  auto o = answered(milliseconds(4000), milliseconds(40));
  for (int i = 0; i < 50; ++i) record(s, o);  // slow for a long while
  o.latency = milliseconds(100);
  o.finished += std::chrono::seconds(30);  // then nothing for 30 s (3 × kFade) but a probe
  record(s, o);
  // 4000 kept at 0.9 × e^-3 (4.5%): 100 + 0.045 × 3900 = about 275 ms, not 3610.
  const std::chrono::duration<double, std::milli> latency = s.latency();
  EXPECT_NEAR(latency.count(), 100 + 0.9 * std::exp(-3.0) * 3900, 1e-3);
  EXPECT_EQ(s.failure_rate(), 0.0);
}

TEST(TargetStats, FailuresCountButCancellationsSayNothingAboutTheUpstream) {
  TargetStats s;
  auto answer = answered(milliseconds(100), milliseconds(40));
  answer.finished = SteadyTime(std::chrono::seconds(7));
  record(s, answer);
  auto timeout = failed(Reason::timeout_first_token);
  timeout.finished = SteadyTime(std::chrono::seconds(7));
  record(s, timeout);
  record(s, failed(Reason::cancelled));
  EXPECT_EQ(s.calls(), 2u);
  EXPECT_EQ(s.failures(), 1u);
  EXPECT_DOUBLE_EQ(s.failure_rate(), 0.1);
  EXPECT_EQ(s.last_failure(), SteadyTime(std::chrono::seconds(7)));
  EXPECT_EQ(s.latency(), milliseconds(100));  // a failure has no latency to average
}

TEST(TargetStats, ACallCutOffPastTheMedianEntersTheQuantilesAsALowerBound) {
  TargetStats s;
  const SteadyTime now(std::chrono::seconds(100));
  for (int i = 0; i < 19; ++i) {
    auto a = answered(milliseconds(100), milliseconds(50));
    a.finished = now;
    s.record(a);
  }
  s.merge(now);
  const auto p95 = s.latency_p95(now);
  // Cut off early: below the median, it says nothing.
  auto early = failed(Reason::cancelled);
  early.latency = milliseconds(20);
  early.finished = now;
  record(s, early);
  EXPECT_EQ(s.latency_p95(now), p95);
  // Two hedged away at 2 s with no token: 2 of 21 calls are in the tail, past p95 now.
  for (int i = 0; i < 2; ++i) {
    auto hedged = failed(Reason::cancelled);
    hedged.latency = milliseconds(2000);
    hedged.finished = now;
    record(s, hedged);
  }
  EXPECT_GE(s.latency_p95(now), milliseconds(2000));
  EXPECT_GE(s.time_to_first_token_p95(now), milliseconds(2000));
  EXPECT_EQ(s.calls(), 19u);  // the averages and counts are the answers' alone
  EXPECT_EQ(s.failures(), 0u);
  EXPECT_EQ(s.latency(), milliseconds(100));
}

TEST(TargetStats, CallsWaitInTheirThreadsShardUntilTheMergeFoldsThemAsOneBatch) {
  TargetStats s;
  auto o = answered(milliseconds(100), milliseconds(40));
  s.record(o);  // the first call is due at once
  EXPECT_EQ(s.latency(), milliseconds(100));
  o.latency = milliseconds(200);
  std::vector<std::thread> threads;
  threads.reserve(4);
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&s, o] {
      for (int i = 0; i < 1000; ++i) s.record(o);  // within the same second: not merged yet
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(s.calls(), 1u);
  EXPECT_EQ(s.latency(), milliseconds(100));
  EXPECT_LT(s.latency_p95(o.finished), milliseconds(120));  // 100 ms's bucket
  s.merge(o.finished);
  EXPECT_EQ(s.calls(), 4001u);  // no call lost between the shards
  EXPECT_EQ(s.latency(), milliseconds(200));  // 4000 calls at 200 ms: 1 − 0.9^4000 of the way
  EXPECT_GE(s.latency_p95(o.finished), milliseconds(200));  // the quantiles got them too
  EXPECT_LT(s.latency_p95(o.finished), milliseconds(240));
  // Ten more, one second later: the first of them is due and merges what came before it. The
  // average has faded by e^(-1 s / kFade) since the last merge.
  o.latency = milliseconds(300);
  o.finished += TargetStats::kMergeEvery;
  for (int i = 0; i < 10; ++i) s.record(o);
  EXPECT_EQ(s.calls(), 4002u);
  const double one = 200 + (1 - std::exp(-0.1) * 0.9) * 100;
  std::chrono::duration<double, std::milli> latency = s.latency();
  EXPECT_NEAR(latency.count(), one, 1e-3);
  s.merge(o.finished);
  // Nine at once (no time later) move it as nine one at a time would.
  latency = s.latency();
  EXPECT_NEAR(latency.count(), one + (1 - std::pow(0.9, 9)) * (300 - one), 1e-3);
}

TEST(TargetRegistry, SnapshotsBuiltOnOneRegistryShareItsState) {
  Metrics metrics;
  auto registry = std::make_shared<TargetRegistry>();
  auto build = [&](const std::string& yaml) {
    auto cfg = parse_config(yaml, "t.yaml");
    EXPECT_TRUE(cfg.config) << cfg.error;
    auto built = build_snapshot(std::move(*cfg.config), metrics, registry);
    EXPECT_TRUE(built.snapshot) << built.error;
    return built.snapshot;
  };
  auto before = build(R"(
upstreams:
  - {name: a, base_url: "http://127.0.0.1:1/v1", models: [{name: m}, {name: n}]}
)");
  // A reload that moves the upstream and reorders its models: same names, same state.
  auto after = build(R"(
upstreams:
  - {name: z, base_url: "http://127.0.0.1:3/v1", models: [{name: m}]}
  - {name: a, base_url: "http://127.0.0.1:2/v1", models: [{name: n}, {name: m}]}
)");
  const Target* m_before = before->models.at("m")[0];
  const Target* m_after = after->models.at("m")[1];
  EXPECT_EQ(m_before->state, m_after->state);
  EXPECT_EQ(&m_before->state->upstream, &before->models.at("n")[0]->state->upstream);
  EXPECT_NE(after->models.at("m")[0]->state, m_after->state);  // z's m is another pair
  EXPECT_EQ(m_after->state->upstream.name, "a");
  EXPECT_EQ(m_after->state->model, "m");
  // A snapshot built without a registry gets its own.
  auto cfg = parse_config("upstreams: [{name: a, base_url: 'http://127.0.0.1:1/v1', models: [{name: m}]}]",
                          "t.yaml");
  auto alone = build_snapshot(std::move(*cfg.config), metrics);
  ASSERT_TRUE(alone.snapshot);
  EXPECT_NE(alone.snapshot->models.at("m")[0]->state, m_before->state);
}

class RecordingSink final : public OutcomeSink {
 public:
  void report(const CallOutcome& o) noexcept override { outcomes.push_back(o); }
  std::vector<CallOutcome> outcomes;
};

TEST(TargetRegistry, EveryFinishedCallReportsItsOutcome) {
  Metrics metrics;
  auto registry = std::make_shared<TargetRegistry>();
  RecordingSink sink;
  registry->add_sink(sink);
  auto cfg = parse_config(R"(
upstreams:
  - {name: a, base_url: "http://127.0.0.1:1/v1", models: [{name: m, id: "status=503"}]}
  - {name: b, base_url: "http://127.0.0.1:1/v1", models: [{name: m, id: ok}]}
)",
                          "t.yaml");
  ASSERT_TRUE(cfg.config) << cfg.error;
  auto snap = build_snapshot(std::move(*cfg.config), metrics, registry).snapshot;
  ASSERT_TRUE(snap);
  auto req = chat_request();
  FakeUpstreams ups;
  RouteContext ctx(*snap, req, ups);
  ctx.candidates = snap->models.at("m");
  RecordingWriter out;
  ASSERT_TRUE(run(snap->passthrough->dispatch(ctx, out)));

  ASSERT_EQ(sink.outcomes.size(), 2u);
  EXPECT_EQ(sink.outcomes[0].target, ctx.candidates[0]);
  EXPECT_FALSE(sink.outcomes[0].ok);
  EXPECT_EQ(sink.outcomes[0].reason, Reason::upstream_status);
  EXPECT_EQ(sink.outcomes[0].status, 503);
  EXPECT_TRUE(sink.outcomes[1].ok);
  EXPECT_EQ(sink.outcomes[1].input_tokens, 7u);
  EXPECT_EQ(sink.outcomes[1].output_tokens, 3u);
  // The registry kept its own statistics too.
  EXPECT_EQ(ctx.candidates[0]->state->stats.failures(), 1u);
  EXPECT_EQ(ctx.candidates[1]->state->stats.calls(), 1u);
  EXPECT_EQ(ctx.candidates[1]->state->stats.failures(), 0u);
  EXPECT_EQ(ctx.candidates[0]->state->upstream.in_flight.load(), 0u);  // every slot released
}

}  // namespace
}  // namespace switchyard::test

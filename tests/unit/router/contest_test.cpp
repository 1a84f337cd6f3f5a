// The dispatchers that call several models at once, against FakeUpstream ("say=TEXT" answers
// at once, "slow=N[,MODEL]" N ms later by the real clock). `race`: first_acceptable takes the
// first answer its gates pass and cancels the rest, best_of votes or asks a judge (a "say=N"
// model), fast_then_upgrade waits for the better model only within its window, a stream goes
// to the first call with a token, max_calls limits how many run. `hedge`: a slow first call is hedged at the delay and the
// hedge wins, a quick one is not hedged, the budget refuses hedges, a failure falls back at
// once. Metrics and config errors of both. The delays are far apart (a hedge at 50 ms against
// an answer at 2 s), so a slow machine does not reorder them. No socket.
#include "api/request.hpp"
#include "router/classify/features.hpp"
#include "support/fakes.hpp"
#include "support/fixture.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace switchyard::test {
namespace {

using nlohmann::json;

std::string config(const std::string& models, const std::string& dispatcher) {
  return R"(
upstreams:
  - name: u
    base_url: http://127.0.0.1:1/v1
    models:
      - {name: refuser, id: "say=I'm sorry, but I can't help with that.", price_usd_per_mtok: {input: 1, output: 1}}
      - {name: b-now, id: "say=B", price_usd_per_mtok: {input: 1, output: 1}}
      - {name: b-soon, id: "slow=100,say=(B) because the wall is load-bearing", price_usd_per_mtok: {input: 1, output: 1}}
      - {name: c-soon, id: "slow=100,say=C", price_usd_per_mtok: {input: 1, output: 1}}
      - {name: c-late, id: "slow=3000,say=C", price_usd_per_mtok: {input: 1, output: 1}}
      - {name: strong-soon, id: "slow=100,say=The answer is B.", price_usd_per_mtok: {input: 1, output: 1}}
      - {name: strong-late, id: "slow=3000,say=The answer is B.", price_usd_per_mtok: {input: 1, output: 1}}
      - {name: down, id: "status=503", price_usd_per_mtok: {input: 1, output: 1}}
      - {name: slow, id: "slow=2000", price_usd_per_mtok: {input: 1, output: 1}}
      - {name: late, id: "slow=150", price_usd_per_mtok: {input: 1, output: 1}}
      - {name: quick, id: "ok", price_usd_per_mtok: {input: 1, output: 1}}
      - {name: stalls, id: "stall", price_usd_per_mtok: {input: 1, output: 1}}
      - {name: picky, id: "status=400", price_usd_per_mtok: {input: 1, output: 1}}
      - {name: picks-1, id: "say=1", price_usd_per_mtok: {input: 1, output: 1}}
      - {name: picks-7, id: "say=Answer 7 is best.", price_usd_per_mtok: {input: 1, output: 1}}
routes:
  auto:
    stages: [{type: static, models: )" +
         models + R"(}]
    dispatcher: )" +
         dispatcher + "\n";
}

struct Outcome : Dispatched {
  std::string metrics;
  std::vector<std::string> bodies;  // what the upstream was sent, in order
};

// `requests` requests in turn; the last one's outcome, and the metrics of all.
Outcome run_route(const std::string& models, const std::string& dispatcher,
                  const std::string& extra = {}, int requests = 1) {
  Metrics metrics;
  auto snap = snapshot_from_yaml(metrics, config(models, dispatcher));
  Outcome o;
  if (!snap) return o;
  FakeUpstreams ups;
  for (int i = 0; i < requests; ++i) {
    auto req = chat_request(extra);
    req.model = "auto";
    static_cast<Dispatched&>(o) = dispatch_request(*snap, ups, std::move(req));
  }
  o.metrics = metrics.serialize();
  o.bodies = ups.upstreams[0].bodies;
  return o;
}

using Models = std::vector<std::string>;

bool has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

TEST(Race, FirstAcceptableTakesTheFirstAnswerThatPassesAndCancelsTheRest) {
  auto o = run_route("[refuser, c-late, b-soon]",
                    "{type: race, mode: first_acceptable, gates: {refusal: true}}");
  ASSERT_TRUE(o.result) << o.result.error().message;
  EXPECT_EQ(o.called, (Models{"refuser", "c-late", "b-soon"}));  // all three at once
  EXPECT_EQ(o.reasons[1], Reason::cancelled);  // c-late: cancelled once b-soon passed
  EXPECT_LT(o.took, std::chrono::milliseconds(2000));
  EXPECT_EQ(o.out.headers["x-switchyard-model"], "b-soon");
  EXPECT_TRUE(has(o.out.body, "load-bearing")) << o.out.body;
  EXPECT_TRUE(has(o.metrics, R"(switchyard_race_calls_total{model="b-soon",result="won",route="auto"} 1)"))
      << o.metrics;
  EXPECT_TRUE(has(o.metrics, R"(switchyard_race_calls_total{model="c-late",result="lost",route="auto"} 1)"));
  EXPECT_TRUE(has(o.metrics, R"(switchyard_race_calls_total{model="refuser",result="lost",route="auto"} 1)"));
  // The refusal was billed by its usage, and the cancelled call its prompt (an estimate, as the
  // provider has most likely billed it): both count as wasted.
  ASSERT_GT(o.costs[0], 0);
  ASSERT_GT(o.costs[1], 0);
  EXPECT_DOUBLE_EQ(
      metric(o.metrics, R"(switchyard_race_wasted_usd_total{billed="usage",route="auto"})"),
      o.costs[0]);
  EXPECT_DOUBLE_EQ(
      metric(o.metrics, R"(switchyard_race_wasted_usd_total{billed="estimate",route="auto"})"),
      o.costs[1]);
  EXPECT_EQ(
      metric(o.metrics, R"(switchyard_race_wasted_usd_total{billed="tokens_seen",route="auto"})"),
      0);
}

TEST(Race, AStreamCancelledUnderWayIsBilledTheTokensItSent) {
  // A streaming client's best_of buffers each call; the stalled one is cut off at the window,
  // one token in: billed its prompt (estimated) and that token.
  auto o = run_route("[quick, stalls]", "{type: race, mode: best_of, window_ms: 300}",
                     R"(,"stream":true)");
  ASSERT_TRUE(o.result) << o.result.error().message;
  ASSERT_EQ(o.reasons.size(), 2u);
  EXPECT_EQ(o.reasons[1], Reason::cancelled);
  EXPECT_EQ(o.out.headers["x-switchyard-model"], "quick");
  ASSERT_GT(o.costs[1], 0);
  EXPECT_DOUBLE_EQ(
      metric(o.metrics, R"(switchyard_race_wasted_usd_total{billed="tokens_seen",route="auto"})"),
      o.costs[1]);
}

TEST(Race, FirstAcceptableWithNoAcceptableAnswerCommitsTheFirstCandidatesAnswer) {
  auto o = run_route("[down, refuser]", "{type: race, gates: {refusal: true}}");
  ASSERT_TRUE(o.result);
  EXPECT_EQ(o.out.headers["x-switchyard-model"], "refuser");
}

TEST(Race, MaxCallsLimitsTheField) {
  auto o = run_route("[b-now, c-soon, strong-soon]", "{type: race, max_calls: 2}");
  ASSERT_TRUE(o.result);
  EXPECT_EQ(o.called, (Models{"b-now", "c-soon"}));
  EXPECT_EQ(o.out.headers["x-switchyard-model"], "b-now");
}

TEST(Race, TheCallersCostCapLimitsTheField) {
  // Without predictions, each call is priced at least its prompt's input: a cap just above one
  // call's prompt lets one run; none lets three.
  Metrics metrics;
  auto snap = snapshot_from_yaml(
      metrics, config("[b-now, c-soon, strong-soon]", "{type: race, max_calls: 3}"));
  ASSERT_TRUE(snap);
  const std::string body =
      R"({"model":"auto","messages":[{"role":"user","content":")" + std::string(4000, 'x') +
      R"("}]})";
  const auto race = [&](std::optional<double> cap) {
    FakeUpstreams ups;
    auto req = parse_api_request(Endpoint::chat_completions, body);
    EXPECT_TRUE(req);
    req->max_cost_usd = cap;
    return dispatch_request(*snap, ups, std::move(*req)).called;
  };
  EXPECT_EQ(race(std::nullopt), (Models{"b-now", "c-soon", "strong-soon"}));
  const double one = estimated_tokens(4000) / 1e6;  // 1,000 tokens at 1 USD per million
  ASSERT_GT(one, 0);
  EXPECT_EQ(race(one * 1.5), (Models{"b-now"}));
  EXPECT_EQ(race(one * 2.5), (Models{"b-now", "c-soon"}));
  EXPECT_EQ(race(one / 10), (Models{"b-now"}));  // the first always runs
}

TEST(Race, BestOfPicksWhatMostAnswersSay) {
  // B, (B) and "The answer is B." agree on B against C.
  auto o = run_route("[c-soon, b-now, b-soon, strong-soon]", "{type: race, mode: best_of, max_calls: 4}");
  ASSERT_TRUE(o.result) << o.result.error().message;
  EXPECT_EQ(o.called.size(), 4u);
  EXPECT_EQ(o.out.headers["x-switchyard-model"], "b-now");  // the first of the largest group
  EXPECT_TRUE(has(o.metrics, R"(switchyard_race_calls_total{model="c-soon",result="lost",route="auto"} 1)"));
}

TEST(Race, BestOfByJudgeCommitsTheAnswerTheJudgeNames) {
  // Vote would take B; the judge names answer 1, which is c-soon's (the calls' order).
  auto o = run_route("[c-soon, b-now, b-soon]",
                     "{type: race, mode: best_of, pick: judge, judge: {model: picks-1}}");
  ASSERT_TRUE(o.result) << o.result.error().message;
  EXPECT_EQ(o.called, (Models{"c-soon", "b-now", "b-soon", "picks-1"}));
  EXPECT_EQ(o.out.headers["x-switchyard-model"], "c-soon");
  EXPECT_EQ(o.out.headers["x-switchyard-attempts"], "4");
  EXPECT_NEAR(o.costs[3], 1e-5, 1e-12);  // the judge's call is billed like any other
  // It was shown every answer, numbered, after the question.
  ASSERT_EQ(o.bodies.size(), 4u);
  const json judged = json::parse(o.bodies[3]);
  EXPECT_EQ(judged["model"], "say=1");
  const std::string shown = judged["messages"][1]["content"];
  EXPECT_TRUE(has(shown, "<question>\nx\n</question>")) << shown;
  EXPECT_TRUE(has(shown, "<answer 1>\nC\n</answer 1>")) << shown;
  EXPECT_TRUE(has(shown, "<answer 3>\n(B) because the wall is load-bearing\n</answer 3>"));
  // A judge that names no answer there is leaves the pick to the vote.
  auto vote = run_route("[c-soon, b-now, b-soon]",
                        "{type: race, mode: best_of, pick: judge, judge: {model: picks-7}}");
  ASSERT_TRUE(vote.result);
  EXPECT_EQ(vote.out.headers["x-switchyard-model"], "b-now");
}

TEST(Race, BestOfCutsOffWhatComesAfterItsWindow) {
  // Two C's would outvote one B, but c-late answers after the window.
  auto o = run_route("[b-now, c-soon, c-late]", "{type: race, mode: best_of, window_ms: 500}");
  ASSERT_TRUE(o.result);
  EXPECT_LT(o.took, std::chrono::milliseconds(2000));
  EXPECT_EQ(o.reasons[2], Reason::cancelled);  // by the window
  EXPECT_EQ(o.out.headers["x-switchyard-model"], "b-now");  // one each: the first
}

TEST(Race, FastThenUpgradeWaitsForTheBetterModelOnlyWithinTheWindow) {
  auto in_time = run_route("[b-now, strong-soon]",
                          "{type: race, mode: fast_then_upgrade, upgrade: strong-soon, window_ms: 1000}");
  ASSERT_TRUE(in_time.result);
  EXPECT_EQ(in_time.out.headers["x-switchyard-model"], "strong-soon");
  auto too_late = run_route("[b-now, strong-late]",
                           "{type: race, mode: fast_then_upgrade, upgrade: strong-late, window_ms: 200}");
  ASSERT_TRUE(too_late.result);
  EXPECT_EQ(too_late.out.headers["x-switchyard-model"], "b-now");
  EXPECT_LT(too_late.took, std::chrono::milliseconds(2000));
  EXPECT_EQ(too_late.reasons[0], Reason::cancelled);  // the upgrade, cut off at the window
}

TEST(Race, AStreamGoesToTheFirstCallWithAToken) {
  auto o = run_route("[c-late, b-soon]", "{type: race}", R"(,"stream":true)");
  ASSERT_TRUE(o.result) << o.result.error().message;
  EXPECT_EQ(o.reasons[0], Reason::cancelled);
  EXPECT_LT(o.took, std::chrono::milliseconds(2000));
  EXPECT_EQ(o.out.headers["x-switchyard-model"], "b-soon");
  ASSERT_FALSE(o.out.events.empty());
  EXPECT_TRUE(has(o.out.events.front(), "load-bearing"));
  for (const auto& e : o.out.events) EXPECT_FALSE(has(e, "\"C\"")) << e;
  EXPECT_TRUE(o.out.ended);
}

TEST(Race, ConfigErrorsNameThePath) {
  Metrics metrics;
  auto error = [&](const std::string& d) { return snapshot_error(metrics, config("[b-now]", d)); };
  EXPECT_EQ(error("{type: race, mode: fastest}"),
            "routes.auto.dispatcher.mode: expected first_acceptable, best_of or "
            "fast_then_upgrade, got \"fastest\"");
  EXPECT_EQ(error("{type: race, max_calls: 1}"), "routes.auto.dispatcher.max_calls: must be 2 to 8");
  EXPECT_EQ(error("{type: race, mode: best_of, gates: {refusal: true}}"),
            "routes.auto.dispatcher.gates: only mode first_acceptable takes gates");
  EXPECT_EQ(error("{type: race, mode: fast_then_upgrade}"),
            "routes.auto.dispatcher.upgrade: is required by mode fast_then_upgrade: the better "
            "model");
  EXPECT_TRUE(has(error("{type: race, mode: fast_then_upgrade, upgrade: gpt-9}"),
                  "routes.auto.dispatcher.upgrade: unknown model \"gpt-9\""));
  EXPECT_EQ(error("{type: race, mode: best_of, pick: judge}"),
            "routes.auto.dispatcher.judge: is required by pick: judge: the model that picks");
  EXPECT_EQ(error("{type: race, judge: {model: picks-1}}"),
            "routes.auto.dispatcher.judge: only pick: judge takes a judge");
  EXPECT_EQ(error("{type: race, gates: {judge: {model: picks-1}}}"),
            "routes.auto.dispatcher.gates.judge: a race decides as each answer ends, with no call "
            "to spare; use mode best_of with pick: judge, or a cascade");
  EXPECT_TRUE(has(error("{type: race, mode: best_of, pick: judge, judge: {model: gpt-9}}"),
                  "routes.auto.dispatcher.judge.model: unknown model \"gpt-9\""));
}

constexpr const char* kFixed50 = "{type: hedge, delay: fixed, delay_ms: 50}";

TEST(Hedge, ASlowCallIsHedgedAtTheDelayAndTheHedgeWins) {
  auto o = run_route("[slow, quick]", kFixed50);
  ASSERT_TRUE(o.result) << o.result.error().message;
  EXPECT_EQ(o.called, (Models{"slow", "quick"}));
  EXPECT_EQ(o.reasons[0], Reason::cancelled);  // the loser was cancelled, not awaited
  EXPECT_LT(o.took, std::chrono::milliseconds(1500));
  EXPECT_GE(o.took, std::chrono::milliseconds(50));
  EXPECT_EQ(o.out.status, 200);
  EXPECT_EQ(o.out.headers["x-switchyard-model"], "quick");
  EXPECT_EQ(o.out.headers["x-switchyard-attempts"], "2");
  EXPECT_TRUE(has(o.metrics, R"(switchyard_hedges_total{outcome="fired",route="auto"} 1)"))
      << o.metrics;
  EXPECT_TRUE(has(o.metrics, R"(switchyard_hedges_total{outcome="won",route="auto"} 1)"));
  EXPECT_TRUE(has(o.metrics, R"(switchyard_race_calls_total{model="quick",result="won",route="auto"} 1)"));
  EXPECT_TRUE(has(o.metrics, R"(switchyard_race_calls_total{model="slow",result="lost",route="auto"} 1)"));
}

TEST(Hedge, AQuickAnswerIsNotHedged) {
  auto o = run_route("[quick, slow]", "{type: hedge, delay: fixed, delay_ms: 500}");
  ASSERT_TRUE(o.result);
  EXPECT_EQ(o.called, (Models{"quick"}));
  EXPECT_TRUE(has(o.metrics, R"(switchyard_hedges_total{outcome="fired",route="auto"} 0)"));
}

TEST(Hedge, TheFirstAnswerWinsEvenWhenItIsTheHedgedCall) {
  // late answers at 150 ms, its hedge (slow) would at 50 + 2000: the first call wins.
  auto o = run_route("[late, slow]", kFixed50);
  ASSERT_TRUE(o.result);
  EXPECT_EQ(o.called, (Models{"late", "slow"}));
  EXPECT_EQ(o.out.headers["x-switchyard-model"], "late");
  EXPECT_LT(o.took, std::chrono::milliseconds(1500));
  EXPECT_TRUE(has(o.metrics, R"(switchyard_hedges_total{outcome="fired",route="auto"} 1)"));
  EXPECT_TRUE(has(o.metrics, R"(switchyard_hedges_total{outcome="won",route="auto"} 0)"));
}

TEST(Hedge, TheBudgetRefusesHedgesPastItsShare) {
  auto o = run_route("[late, quick]", "{type: hedge, delay: fixed, delay_ms: 20, budget: 0}");
  ASSERT_TRUE(o.result);
  EXPECT_EQ(o.called, (Models{"late"}));  // waited for it
  EXPECT_TRUE(has(o.metrics, R"(switchyard_hedges_total{outcome="over_budget",route="auto"} 1)"))
      << o.metrics;
  // 10%: the first few requests of a quiet route may hedge (ShareBudget's floor), then about one
  // in ten.
  auto many = run_route("[late, quick]", "{type: hedge, delay: fixed, delay_ms: 20, budget: 0.1}",
                        {}, 12);
  EXPECT_TRUE(has(many.metrics, R"(switchyard_hedges_total{outcome="fired",route="auto"} 3)"))
      << many.metrics;
  EXPECT_TRUE(has(many.metrics, R"(switchyard_hedges_total{outcome="over_budget",route="auto"} 9)"));
}

TEST(Hedge, AFailureStartsTheNextCandidateAtOnce) {
  auto o = run_route("[down, quick]", "{type: hedge, delay: fixed, delay_ms: 5000}");
  ASSERT_TRUE(o.result);
  EXPECT_EQ(o.called, (Models{"down", "quick"}));
  EXPECT_LT(o.took, std::chrono::milliseconds(2000));  // not at the 5 s delay
  EXPECT_EQ(o.out.headers["x-switchyard-model"], "quick");
  EXPECT_TRUE(has(o.metrics, R"(switchyard_hedges_total{outcome="fired",route="auto"} 0)"));
  // Candidates past the hedges are fallbacks too.
  auto third = run_route("[down, down, quick]", kFixed50);
  ASSERT_TRUE(third.result);
  EXPECT_EQ(third.out.headers["x-switchyard-model"], "quick");
  // A lone candidate is hedged with itself; when every call fails, the client hears why.
  auto all = run_route("[down]", kFixed50);
  ASSERT_FALSE(all.result);
  EXPECT_EQ(all.called, (Models{"down", "down"}));
  EXPECT_GE(all.result.error().status, 500);
}

TEST(Hedge, TheRequestsOwnFaultGoesBackWithoutAHedge) {
  auto o = run_route("[picky, quick]", kFixed50);
  ASSERT_TRUE(o.result);
  EXPECT_EQ(o.called, (Models{"picky"}));
  EXPECT_EQ(o.out.status, 400);
}

TEST(Hedge, AStreamGoesToTheFirstCallWithATokenAndTheOtherNeverWrites) {
  auto o = run_route("[slow, quick]", kFixed50, R"(,"stream":true)");
  ASSERT_TRUE(o.result) << o.result.error().message;
  EXPECT_EQ(o.called, (Models{"slow", "quick"}));
  EXPECT_EQ(o.reasons[0], Reason::cancelled);
  EXPECT_LT(o.took, std::chrono::milliseconds(1500));
  EXPECT_EQ(o.out.headers["x-switchyard-model"], "quick");
  // quick's three content events, [DONE] and nothing else: slow wrote nothing.
  ASSERT_EQ(o.out.events.size(), 4u);
  EXPECT_EQ(o.out.events.back(), "data: [DONE]\n\n");
  EXPECT_TRUE(o.out.ended);
  EXPECT_FALSE(o.out.trailers["x-switchyard-cost-usd"].empty());
}

TEST(Hedge, ConfigErrorsNameThePath) {
  Metrics metrics;
  EXPECT_EQ(snapshot_error(metrics, config("[quick]", "{type: hedge, hedges: 0}")),
            "routes.auto.dispatcher.hedges: must be 1 to 3");
  EXPECT_EQ(snapshot_error(metrics, config("[quick]", "{type: hedge, delay: p100}")),
            "routes.auto.dispatcher.delay: expected fixed or a percentile p50 to p99, got "
            "\"p100\"");
  EXPECT_EQ(snapshot_error(metrics, config("[quick]", "{type: hedge, budget: 2}")),
            "routes.auto.dispatcher.budget: must be a share, 0 to 1");
}

}  // namespace
}  // namespace switchyard::test

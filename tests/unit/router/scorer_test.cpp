// The `scorer` stage: priors, predictions from earlier stages, cost and latency weights, and a
// request's limits. No socket: live latency is reported to the snapshot's registry directly.
#include "api/request.hpp"
#include "router/decision.hpp"
#include "router/resolve.hpp"
#include "support/fakes.hpp"
#include "support/manual_clock.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>

namespace switchyard::test {
namespace {

// big costs 20 times what small does; the scorer's own keys come from `scorer`.
std::string route(const std::string& scorer) {
  return R"(
upstreams:
  - name: u
    base_url: http://127.0.0.1:1/v1
    models:
      - {name: big, price_usd_per_mtok: {input: 10, output: 30}}
      - {name: small, price_usd_per_mtok: {input: 0.5, output: 1.5}}
routes:
  auto:
    stages:
      - {type: static, models: [small, big]}
      - {type: scorer, quality: {big: 0.9, small: 0.7})" +
         scorer + "}\n";
}

class Scorer : public ::testing::Test {
 protected:
  // The candidates' order for a chat request to `auto`, or the error's message.
  std::string order(const std::string& scorer,
                    const std::function<void(ApiRequest&)>& limits = {}, Caller caller = {}) {
    if (!snap_ || scorer != last_) snap_ = snapshot_from_yaml(metrics_, route(scorer));
    last_ = scorer;
    if (!snap_) return "<no snapshot>";
    auto req = parse_api_request(Endpoint::chat_completions,
                                 R"({"model":"auto","messages":[{"role":"user","content":"hi"}]})");
    EXPECT_TRUE(req);
    if (limits) limits(*req);
    RouteContext ctx(*snap_, *req, ups_, clock_);
    ctx.caller = caller;
    if (wall_) ctx.wall_time = *wall_;
    if (auto r = resolve(ctx); !r) return r.error().message;
    std::string out;
    for (const auto* t : ctx.candidates) out += (out.empty() ? "" : ",") + t->model->name;
    EXPECT_EQ(ctx.decision.predictions.size(), ctx.candidates.size());
    return out;
  }
  // Reports answered calls of `model` that took `latency`.
  void answered(const std::string& model, std::chrono::milliseconds latency) {
    CallOutcome o{snap_->models.at(model)[0], true};
    o.latency = latency;
    o.finished = clock_.now();
    for (int i = 0; i < 3; ++i) snap_->registry->report(o);
    o.target->state->stats.merge(clock_.now());  // now, not when the manual clock moves on
  }

  ManualClock clock_;
  Metrics metrics_;
  std::shared_ptr<const Snapshot> snap_;
  std::string last_;
  FakeUpstreams ups_;
  std::optional<std::chrono::system_clock::time_point> wall_;  // the request's time, if set
};

// A UTC time on some day at `hour`.
std::chrono::system_clock::time_point at_hour(int hour) {
  return std::chrono::system_clock::time_point(std::chrono::hours(24 * 20000 + hour) +
                                               std::chrono::minutes(30));
}

TEST_F(Scorer, PriorsDecideWhenCostAndLatencyAreFree) {
  EXPECT_EQ(order(""), "big,small");
}

TEST_F(Scorer, CostWeightTradesQualityForCost) {
  // big: 0.9 - w; small: 0.7 - w / 20.
  EXPECT_EQ(order(", cost_weight: 0.1"), "big,small");
  EXPECT_EQ(order(", cost_weight: 0.5"), "small,big");
}

TEST_F(Scorer, ASlowModelLosesUnderALatencyWeight) {
  EXPECT_EQ(order(", latency_weight: 0.1"), "big,small");  // no latency known yet
  answered("big", std::chrono::milliseconds(4000));           // 0.9 - 0.4 < 0.7
  EXPECT_EQ(order(", latency_weight: 0.1"), "small,big");
  // Without an answer from big, its latency fades past two merges, by e^(-idle / 10 s): after
  // 5 s 4 s counts as 2.96 (0.9 - 0.30 < 0.7), after 20 s as 0.66, and big is tried again.
  clock_.advance(std::chrono::seconds(5));
  EXPECT_EQ(order(", latency_weight: 0.1"), "small,big");
  clock_.advance(std::chrono::seconds(15));
  EXPECT_EQ(order(", latency_weight: 0.1"), "big,small");
}

TEST_F(Scorer, RequestLimitsDropWhatWouldBreakThem) {
  // "hi" is 1 estimated input token and 256 output tokens: big costs about 0.00768 USD.
  EXPECT_EQ(order("", [](ApiRequest& r) { r.max_cost_usd = 0.001; }), "small");
  EXPECT_EQ(order("", [](ApiRequest& r) { r.max_cost_usd = 0.01; }), "big,small");
  EXPECT_EQ(order("", [](ApiRequest& r) { r.max_cost_usd = 0; }),
            "No model of this route is expected to cost at most x-switchyard-max-cost-usd.");
  answered("big", std::chrono::milliseconds(4000));
  EXPECT_EQ(order("", [](ApiRequest& r) { r.max_latency_ms = 1000; }), "small");
}

TEST_F(Scorer, AnEarlierStagesPredictionsComeFirst) {
  ASSERT_EQ(order(""), "big,small");
  auto req = parse_api_request(Endpoint::chat_completions,
                               R"({"model":"auto","messages":[{"role":"user","content":"hi"}]})");
  ASSERT_TRUE(req);
  RouteContext ctx(*snap_, *req, ups_);
  const auto& stages = snap_->routes.at("auto").stages;
  ASSERT_TRUE(stages[0]->apply(ctx));
  // As a learned stage would have it: small answers this prompt better, and costs nothing.
  const auto small = std::find_if(ctx.candidates.begin(), ctx.candidates.end(),
                                  [](const Target* t) { return t->model->name == "small"; });
  ASSERT_NE(small, ctx.candidates.end());
  ctx.decision.predictions = {{*small, 0.95, 0, 0}};
  ASSERT_TRUE(stages[1]->apply(ctx));
  EXPECT_EQ(ctx.candidates.front()->model->name, "small");
  EXPECT_DOUBLE_EQ(ctx.decision.predictions.front().quality, 0.95);
  EXPECT_DOUBLE_EQ(ctx.decision.predictions.back().quality, 0.9);  // big's prior
}

TEST_F(Scorer, TheDecisionWrittenByHandIsTheDocumentItDescribes) {
  snap_ = snapshot_from_yaml(metrics_, route(""));
  ASSERT_TRUE(snap_);
  const Target* big = snap_->models.at("big")[0];
  const Target* small = snap_->models.at("small")[0];
  Decision d;
  d.labels = {{"co\"de\n", 0.95}, {"math", 1}};
  d.tier = "code";
  d.fallback = true;
  d.predictions = {{small, 0.7, 1.5e-06, 0.6999}, {big, 0.9, 0.0001, 0.5}};
  d.demoted = {big};
  d.sticky = true;
  d.bandit = {small, true, false};
  const std::string text = decision_json(d);
  const auto expected = nlohmann::json::parse(R"({
    "bandit": {"explored": true, "model": "small", "shadow": false, "upstream": "u"},
    "breaker_open": [{"model": "big", "upstream": "u"}],
    "candidates": [
      {"cost_usd": 1.5e-06, "model": "small", "quality": 0.7, "score": 0.6999, "upstream": "u"},
      {"cost_usd": 0.0001, "model": "big", "quality": 0.9, "score": 0.5, "upstream": "u"}],
    "fallback": true,
    "labels": [{"confidence": 0.95, "label": "co\"de\n"}, {"confidence": 1, "label": "math"}],
    "sticky": true,
    "tier": "code"})");
  EXPECT_EQ(nlohmann::json::parse(text), expected) << text;
  // Keys sorted, as nlohmann dumps them (its numbers and escapes may differ: 0.0001, \n).
  const std::string theirs = expected.dump();
  EXPECT_EQ(text.substr(0, text.find("\"candidates\"")),
            theirs.substr(0, theirs.find("\"candidates\"")));
  EXPECT_EQ(text.find('\n'), std::string::npos);  // one log line
  d = Decision{};
  EXPECT_EQ(decision_json(d), "{}");
  d.predictions = {{small, std::nan(""), 0, 1}};
  EXPECT_TRUE(nlohmann::json::parse(decision_json(d))["candidates"][0]["quality"].is_null());
}

TEST_F(Scorer, PeakHoursChangeTheWeights) {
  // big: 0.9 - w; small: 0.7 - w / 20. In the window cost weighs five times as much.
  const std::string scorer = ", cost_weight: 0.1, windows: [{from_hour: 9, to_hour: 17, cost_factor: 5}, "
                             "{from_hour: 22, to_hour: 6, cost_factor: 5}]";
  wall_ = at_hour(12);
  EXPECT_EQ(order(scorer), "small,big");
  wall_ = at_hour(17);
  EXPECT_EQ(order(scorer), "big,small");
  wall_ = at_hour(3);  // the second window wraps past midnight
  EXPECT_EQ(order(scorer), "small,big");
  wall_ = at_hour(21);
  EXPECT_EQ(order(scorer), "big,small");
}

TEST_F(Scorer, InItsWindowLatencyWeighsWhatTheWindowSays) {
  // big: 0.9 - 0.05 × ~2 s; small: 0.7 - 0.05 × ~0.1 s; from 9 to 17 latency weighs 0.2.
  const std::string scorer =
      ", latency_weight: 0.05, windows: [{from_hour: 9, to_hour: 17, latency_factor: 4}]";
  wall_ = at_hour(8);
  ASSERT_EQ(order(scorer), "big,small");
  answered("big", std::chrono::milliseconds(2000));
  answered("small", std::chrono::milliseconds(100));
  EXPECT_EQ(order(scorer), "big,small");
  wall_ = at_hour(9);
  EXPECT_EQ(order(scorer), "small,big");
}

TEST_F(Scorer, UnderOverloadLatencyWeighsMore) {
  const std::string scorer = ", latency_weight: 0.05, overload: {at: 0.5, latency_factor: 4}";
  ASSERT_EQ(order(scorer), "big,small");
  answered("big", std::chrono::milliseconds(2000));
  answered("small", std::chrono::milliseconds(100));
  // big: 0.9 - 0.05 × ~2 s; small: 0.7 - 0.05 × ~0.1 s.
  EXPECT_EQ(order(scorer), "big,small");
  auto& in_flight = snap_->models.at("big")[0]->state->upstream.in_flight;
  in_flight = 128;  // half of max_concurrent (256): overloaded, latency weighs 0.2
  EXPECT_EQ(order(scorer), "small,big");
  in_flight = 0;
  EXPECT_EQ(order(scorer), "big,small");
}

TEST(ScorerSelfHosted, AnEndpointPricedByTheHourCostsItsShareOfTime) {
  Metrics metrics;
  auto snap = snapshot_from_yaml(metrics, R"(
upstreams:
  - name: gpu
    base_url: http://127.0.0.1:1/v1
    usd_per_hour: 36
    max_concurrent: 10
    models: [{name: local}]
  - name: api
    base_url: http://127.0.0.1:1/v1
    models: [{name: small, price_usd_per_mtok: {input: 0.5, output: 1.5}}]
routes:
  auto:
    stages:
      - {type: static, models: [local, small]}
      - {type: scorer, quality: {local: 0.9, small: 0.7}, cost_weight: 1}
)");
  ASSERT_TRUE(snap);
  auto route = [&] {
    auto req = parse_api_request(Endpoint::chat_completions,
                                 R"({"model":"auto","messages":[{"role":"user","content":"hi"}]})");
    FakeUpstreams ups;
    RouteContext ctx(*snap, *req, ups);
    EXPECT_TRUE(resolve(ctx));
    return std::pair(ctx.candidates.front()->model->name, ctx.decision.predictions);
  };
  // No answer yet: no time to price, so local looks free.
  EXPECT_EQ(route().first, "local");
  CallOutcome o{snap->models.at("local")[0], true};
  o.latency = std::chrono::seconds(10);
  o.finished = system_clock().now();
  for (int i = 0; i < 50; ++i) snap->registry->report(o);
  o.target->state->stats.merge(o.finished);
  // 36 USD/h × ~10 s / 10 at once = ~0.01 USD a call: far dearer than small.
  auto [first, predictions] = route();
  EXPECT_EQ(first, "small");
  EXPECT_NEAR(predictions.back().cost_usd, 0.01, 0.001);
}

TEST(ScorerConfig, ErrorsNameThePath) {
  Metrics metrics;
  auto error = [&](const std::string& scorer) { return snapshot_error(metrics, route(scorer)); };
  EXPECT_EQ(error(", cost_weight: -1"),
            "routes.auto.stages[1].cost_weight: expected a non-negative number, got \"-1\"");
  EXPECT_EQ(error(", latency_wieght: 1"), "routes.auto.stages[1].latency_wieght: unknown key");
  EXPECT_EQ(error(", near_budget: {at: 1.5, cost_weight: 1}"),
            "routes.auto.stages[1].near_budget.at: must be a share of the budget, above 0 and at "
            "most 1");
  EXPECT_EQ(error(", tiers: {free: {cost: 1}}"), "routes.auto.stages[1].tiers.free.cost: unknown key");
  EXPECT_EQ(error(", prior_strength: 0"),
            "routes.auto.stages[1].prior_strength: must be greater than 0");
  EXPECT_EQ(error(", windows: [{from_hour: 25, to_hour: 3}]"),
            "routes.auto.stages[1].windows[0].from_hour: must be an hour, 0 to 23");
  EXPECT_EQ(error(", overload: {at: 2, latency_factor: 3}"),
            "routes.auto.stages[1].overload.at: must be a share of max_concurrent, above 0 and at "
            "most 1");
  EXPECT_EQ(error("").size(), 0u);
}

TEST_F(Scorer, TheCallersTierPicksTheWeights) {
  const std::string tiers =
      ", cost_weight: 0.5, tiers: {premium: {cost_weight: 0}, free: {latency_weight: 1}}";
  Caller premium, free, other;
  premium.tier = "premium";
  free.tier = "free";
  other.tier = "gold";  // not listed: the stage's own weights
  EXPECT_EQ(order(tiers), "small,big");
  EXPECT_EQ(order(tiers, {}, premium), "big,small");  // the best model whatever it costs
  EXPECT_EQ(order(tiers, {}, other), "small,big");
  answered("small", std::chrono::milliseconds(1000));  // free: 0.7 - 0.025 - 1 < 0.9 - 0.5
  EXPECT_EQ(order(tiers, {}, free), "big,small");
}

TEST_F(Scorer, ACallerNearItsBudgetIsRoutedCheaper) {
  const std::string near = ", cost_weight: 0.1, near_budget: {at: 0.8, cost_weight: 0.5}";
  Caller c;
  c.budget_used = 0.79;
  EXPECT_EQ(order(near, {}, c), "big,small");
  c.budget_used = 0.8;
  EXPECT_EQ(order(near, {}, c), "small,big");
}

}  // namespace
}  // namespace switchyard::test

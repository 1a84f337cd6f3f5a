// What feedback teaches: the QualityBook's decayed evidence, the scorer's priors it updates, the
// bandit stage that learns from it (and follows a drift), and A/B splits of a route. No socket;
// time is a ManualClock.
#include "api/request.hpp"
#include "router/feedback.hpp"
#include "router/resolve.hpp"
#include "support/fakes.hpp"
#include "support/manual_clock.hpp"

#include <gtest/gtest.h>

#include <random>

namespace switchyard::test {
namespace {

using std::chrono::seconds;

TEST(QualityBook, KeepsEvidencePerModelAndLabelAndForgetsItByHalfLife) {
  QualityBook book;
  book.set_half_life(seconds(60));
  ManualClock clock;
  const auto t0 = clock.now();
  EXPECT_EQ(book.read("a", "", t0).weight, 0);
  book.record("a", "code", 1, t0);
  book.record("a", "code", 0, t0);
  book.record("a", "code", 1, t0);
  book.record("b", "code", 0.25, t0);
  auto a = book.read("a", "code", t0);
  EXPECT_DOUBLE_EQ(a.weight, 3);
  EXPECT_DOUBLE_EQ(a.score, 2);
  EXPECT_DOUBLE_EQ(a.mean(0.5, 1), 2.5 / 4);
  EXPECT_EQ(book.read("a", "", t0).weight, 0);  // another label
  EXPECT_DOUBLE_EQ(book.read("b", "code", t0).score, 0.25);
  // One half-life later the evidence weighs half; a new feedback adds at full weight.
  const auto t1 = t0 + seconds(60);
  a = book.read("a", "code", t1);
  EXPECT_NEAR(a.weight, 1.5, 1e-9);
  EXPECT_NEAR(a.score, 1, 1e-9);
  book.record("a", "code", 0, t1);
  a = book.read("a", "code", t1);
  EXPECT_NEAR(a.weight, 2.5, 1e-9);
  EXPECT_NEAR(a.score, 1, 1e-9);
}

std::string config(const std::string& stages, const std::string& extra = "") {
  return R"(
upstreams:
  - name: u
    base_url: http://127.0.0.1:1/v1
    models:
      - {name: a, price_usd_per_mtok: {input: 1, output: 1}}
      - {name: b, price_usd_per_mtok: {input: 1, output: 1}}
routes:
  auto:
    stages:
      - {type: static, models: [a, b]}
)" + stages + extra;
}

class Learn : public ::testing::Test {
 protected:
  void build(const std::string& yaml) { snap_ = snapshot_from_yaml(metrics_, yaml); }
  // Resolves one request for `model` (by `caller`, in `session`) and returns its context.
  RouteContext& route(std::string_view caller = "", const std::string& session = "",
                      const std::string& model = "auto") {
    auto req = parse_api_request(
        Endpoint::chat_completions,
        R"({"model":")" + model + R"(","messages":[{"role":"user","content":"hi"}]})");
    EXPECT_TRUE(req);
    req_ = std::move(*req);
    req_.session = session;
    req_.request_id = "req-" + std::to_string(++requests_);
    ctx_.emplace(*snap_, req_, ups_, clock_);
    ctx_->caller.name = caller;
    EXPECT_TRUE(resolve(*ctx_));
    return *ctx_;
  }
  QualityBook& book() { return snap_->learning->quality; }

  Metrics metrics_;
  ManualClock clock_;
  FakeUpstreams ups_{clock_};
  std::shared_ptr<const Snapshot> snap_;
  ApiRequest req_;
  std::optional<RouteContext> ctx_;
  int requests_ = 0;
};

TEST_F(Learn, FeedbackMovesTheScorersPriors) {
  build(config("      - {type: scorer, quality: {a: 0.6, b: 0.5}, prior_strength: 4}\n"));
  EXPECT_EQ(route().candidates.front()->model->name, "a");
  for (int i = 0; i < 4; ++i) book().record("a", "", 0, clock_.now());
  // a: (0.6·4 + 0) / 8 = 0.3 < b's 0.5.
  auto& ctx = route();
  EXPECT_EQ(ctx.candidates.front()->model->name, "b");
  EXPECT_NEAR(ctx.decision.predictions.front().quality, 0.5, 1e-9);
  EXPECT_NEAR(ctx.decision.predictions.back().quality, 0.3, 1e-9);
}

TEST_F(Learn, PriorsMayDifferByLabel) {
  build(config(R"(      - {type: scorer, quality: {a: {default: 0.6, code: 0.2}, b: 0.5}}
)"));
  auto& ctx = route();
  EXPECT_EQ(ctx.candidates.front()->model->name, "a");
  ctx.decision.labels.push_back({"code", 1});
  // The label comes from a classifier before the scorer; here the test stands in for one.
  ctx.candidates = {snap_->models.at("a")[0], snap_->models.at("b")[0]};
  ASSERT_TRUE(snap_->routes.at("auto").stages.back()->apply(ctx));
  EXPECT_EQ(ctx.candidates.front()->model->name, "b");
}

// The chance that model `m` gives a good answer at step `i` of a drift: a is better in the first
// half, b in the second.
double good_chance(const std::string& m, int i, int half) {
  const bool a_better = i < half;
  return (m == "a") == a_better ? 0.8 : 0.3;
}

TEST_F(Learn, ABanditConvergesToTheBetterModelAndFollowsADrift) {
  build(config("      - {type: bandit, explore: 0.2}\n", "feedback: {half_life_s: 60}\n"));
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> u(0, 1);
  constexpr int kHalf = 3000;  // 300 s at one request per 100 ms: five half-lives
  int a_late_first = 0, b_late_second = 0, explored = 0;
  for (int i = 0; i < 2 * kHalf; ++i) {
    clock_.advance(std::chrono::milliseconds(100));
    auto& ctx = route();
    ASSERT_TRUE(ctx.decision.bandit.target);
    const std::string model = ctx.candidates.front()->model->name;
    EXPECT_EQ(model, ctx.decision.bandit.target->model->name);
    explored += ctx.decision.bandit.explored;
    book().record(model, "", u(rng) < good_chance(model, i, kHalf) ? 1 : 0, clock_.now());
    // The last third of each half: has it settled on the better model?
    if (i >= kHalf * 2 / 3 && i < kHalf) a_late_first += model == "a";
    if (i >= kHalf + kHalf * 2 / 3) b_late_second += model == "b";
  }
  const int late = kHalf - kHalf * 2 / 3;
  EXPECT_GE(a_late_first, late * 3 / 4) << "of " << late;
  EXPECT_GE(b_late_second, late * 3 / 4) << "of " << late;
  EXPECT_LE(explored, 2 * kHalf / 5 + 50);  // the budget: at most 20%, give or take a window
  EXPECT_GT(explored, 0);
}

TEST_F(Learn, WithoutExplorationTheBanditTakesTheBestByMean) {
  build(config("      - {type: bandit, explore: 0}\n"));
  for (int i = 0; i < 3; ++i) book().record("b", "", 1, clock_.now());
  for (int i = 0; i < 200; ++i) {
    auto& ctx = route();
    ASSERT_EQ(ctx.candidates.front()->model->name, "b");
    ASSERT_FALSE(ctx.decision.bandit.explored);
  }
}

TEST_F(Learn, AShadowBanditOnlyRecordsItsChoice) {
  build(config("      - {type: bandit, explore: 0, shadow: true}\n"));
  for (int i = 0; i < 3; ++i) book().record("b", "", 1, clock_.now());
  auto& ctx = route();
  EXPECT_EQ(ctx.candidates.front()->model->name, "a");  // the static order stands
  ASSERT_TRUE(ctx.decision.bandit.target);
  EXPECT_EQ(ctx.decision.bandit.target->model->name, "b");
  EXPECT_TRUE(ctx.decision.bandit.shadow);
}

TEST_F(Learn, ConfigErrorsNameThePath) {
  Metrics metrics;
  EXPECT_NE(snapshot_error(metrics, config("      - {type: bandit, explore: 2}\n"))
                .find("routes.auto.stages[1].explore: must be a share"),
            std::string::npos);
  EXPECT_EQ(snapshot_error(metrics, config("      - {type: scorer, quality: {a: {code: 1.5}}}\n")),
            "routes.auto.stages[1].quality.a.code: must be between 0 and 1");
  EXPECT_NE(snapshot_error(metrics, config("      - {type: bandit, prior: {quality: 1}}\n"))
                .find("routes.auto.stages[1].prior.quality: must be between 0 and 1"),
            std::string::npos);
}

const char* kSplit = R"(
  auto-b:
    stages:
      - {type: static, models: [b]}
)";

TEST_F(Learn, ASplitSendsItsShareOfCallersToTheArmAndKeepsEachInOne) {
  build(config("    split: {arm: auto-b, percent: 30}\n", kSplit));
  int in_b = 0;
  for (int k = 0; k < 1000; ++k) {
    const std::string key = "key-" + std::to_string(k);
    auto& ctx = route(key);
    EXPECT_EQ(ctx.experiment, "auto");
    const std::string arm(ctx.route);
    in_b += arm == "auto-b";
    EXPECT_EQ(ctx.candidates.front()->model->name, arm == "auto-b" ? "b" : "a");
    EXPECT_EQ(route(key).route, arm);  // the same caller, the same arm
  }
  EXPECT_NEAR(in_b, 300, 60);
  // A route without a split says no experiment; asking for the arm by name works as usual.
  auto& direct = route("key-1", "", "auto-b");
  EXPECT_TRUE(direct.experiment.empty());
  EXPECT_EQ(direct.route, "auto-b");
}

TEST_F(Learn, ASplitBySessionPlacesEachSession) {
  build(config("    split: {arm: auto-b, percent: 50, by: session}\n", kSplit));
  int in_b = 0;
  for (int s = 0; s < 400; ++s) {
    const std::string session = "s" + std::to_string(s);
    const std::string arm(route("one-key", session).route);
    in_b += arm == "auto-b";
    EXPECT_EQ(route("another-key", session).route, arm);
  }
  EXPECT_NEAR(in_b, 200, 50);
}

}  // namespace
}  // namespace switchyard::test

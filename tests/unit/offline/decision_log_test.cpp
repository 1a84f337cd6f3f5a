// Reading the decision log back: decisions joined with feedback, A/B arms compared with bootstrap
// intervals, a shadow bandit's regret, and an outcomes file to train a router on.
#include "offline/decision_log.hpp"
#include "offline/train.hpp"
#include "router/classify/features.hpp"
#include "router/learned/model.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>

#include <unistd.h>

namespace switchyard::offline {
namespace {

using nlohmann::json;

class DecisionLog : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = (std::filesystem::temp_directory_path() /
             ("switchyard-log-" + std::to_string(::getpid()) + ".jsonl"))
                .string();
  }
  void TearDown() override { std::filesystem::remove(path_); }
  void write(const std::vector<json>& lines) {
    std::ofstream out(path_);
    for (const auto& l : lines) out << l.dump() << "\n";
  }
  static json decision(const std::string& id, const std::string& route, const std::string& model,
                       double cost, const std::string& label = "", const std::string& bandit = "") {
    json d = {{"type", "decision"}, {"request_id", id},   {"route", route},
              {"experiment", "auto"}, {"model", model},   {"status", 200},
              {"cost_usd", cost},    {"latency_ms", 100}, {"prompt", "question " + id}};
    if (!label.empty()) d["decision"]["labels"] = json::array({{{"label", label}, {"confidence", 1}}});
    if (!bandit.empty()) d["decision"]["bandit"] = {{"model", bandit}, {"shadow", true}};
    return d;
  }
  static json feedback(const std::string& id, double score) {
    return {{"type", "feedback"}, {"request_id", id}, {"score", score}};
  }
  std::string path_;
};

TEST_F(DecisionLog, ComparesTheArmsOfAnExperiment) {
  std::vector<json> lines;
  // 200 requests per arm: control scores 1 on 40% of answers, the arm on 80%, at twice the cost.
  for (int i = 0; i < 200; ++i) {
    const std::string a = "a" + std::to_string(i), b = "b" + std::to_string(i);
    lines.push_back(decision(a, "auto", "m", 0.001));
    lines.push_back(feedback(a, i % 5 < 2 ? 1 : 0));
    lines.push_back(feedback(b, i % 5 < 4 ? 1 : 0));  // before its decision: still joined
    lines.push_back(decision(b, "auto-b", "n", 0.002));
  }
  lines.push_back(feedback("unknown", 1));  // no decision: ignored
  write(lines);
  auto requests = load_decision_log({path_});
  ASSERT_TRUE(requests) << requests.error().message;
  ASSERT_EQ(requests->size(), 400u);
  const LogReport report = report_log(*requests, 300, 1);
  ASSERT_EQ(report.arms.size(), 2u);
  const ArmReport& control = report.arms[0];
  const ArmReport& arm = report.arms[1];
  EXPECT_EQ(control.route, "auto");
  EXPECT_EQ(arm.route, "auto-b");
  EXPECT_EQ(arm.rated, 200u);
  EXPECT_NEAR(control.score.value, 0.4, 1e-9);
  EXPECT_NEAR(arm.score.value, 0.8, 1e-9);
  EXPECT_LT(arm.score.lo, 0.8);
  EXPECT_GT(arm.score.hi, 0.8);
  EXPECT_NEAR(arm.score_vs_control.value, 0.4, 1e-9);
  EXPECT_GT(arm.score_vs_control.lo, 0.25);  // 200 each: the difference is clear
  EXPECT_NEAR(arm.cost_vs_control.value, 0.001, 1e-12);
  EXPECT_EQ(control.score_vs_control.value, 0);
  EXPECT_EQ(arm.latency_p95_ms, 100);
}

TEST_F(DecisionLog, MeasuresAShadowBanditsRegret) {
  std::vector<json> lines;
  // Under "code", m scores 0.2 and n 0.9; the bandit picks n on every request, m is served.
  for (int i = 0; i < 10; ++i) {
    const std::string id = "r" + std::to_string(i);
    const std::string served = i < 8 ? "m" : "n";
    lines.push_back(decision(id, "auto", served, 0.001, "code", "n"));
    lines.push_back(feedback(id, served == "m" ? 0.2 : 0.9));
  }
  write(lines);
  auto requests = load_decision_log({path_});
  ASSERT_TRUE(requests);
  const BanditReport b = report_log(*requests, 10, 1).bandit;
  EXPECT_EQ(b.decisions, 10u);
  EXPECT_EQ(b.shadow, 10u);
  EXPECT_EQ(b.agreed, 2u);
  EXPECT_EQ(b.valued, 10u);
  EXPECT_NEAR(b.bandit_regret, 0, 1e-9);
  EXPECT_NEAR(b.served_regret, 0.8 * 0.7, 1e-9);
}

TEST_F(DecisionLog, FieldsOfTheWrongTypeOrOutOfRangeReadAsAbsent) {
  // Hand-edited lines: nothing may throw, wrap or turn into a thumbs-down.
  json odd = decision("r1", "auto", "m", -0.5);
  odd["status"] = 1e300;
  odd["output_tokens"] = -5;
  odd["latency_ms"] = "slow";
  odd["decision"]["bandit"] = {{"model", "n"}, {"shadow", "yes"}};
  write({odd, feedback("r1", 7), {{"type", "feedback"}, {"request_id", "r1"}, {"score", "up"}},
         decision("r2", "auto", "m", 0.001), feedback("r2", 0.5)});
  auto requests = load_decision_log({path_});
  ASSERT_TRUE(requests) << requests.error().message;
  ASSERT_EQ(requests->size(), 2u);
  const LoggedRequest& r = (*requests)[0];
  EXPECT_EQ(r.status, 0);
  EXPECT_EQ(r.output_tokens, 0u);
  EXPECT_EQ(r.cost_usd, 0);
  EXPECT_EQ(r.latency_ms, 0);
  EXPECT_EQ(r.bandit_model, "n");
  EXPECT_FALSE(r.bandit_shadow);
  EXPECT_FALSE(r.score);  // 7 and "up" are no scores
  EXPECT_EQ((*requests)[1].score, 0.5);
}

TEST_F(DecisionLog, BecomesAnOutcomesFileToTrainOn) {
  std::vector<json> lines;
  for (int i = 0; i < 40; ++i) {
    const std::string id = "r" + std::to_string(i);
    lines.push_back(decision(id, "auto", i % 2 ? "m" : "n", 0.001));
    if (i < 30) lines.push_back(feedback(id, i % 3 ? 1 : 0));  // 10 without feedback: left out
  }
  write(lines);
  auto requests = load_decision_log({path_});
  ASSERT_TRUE(requests);
  auto file = log_outcomes(*requests);
  ASSERT_TRUE(file) << file.error().message;
  EXPECT_EQ(file->records.size(), 30u);
  EXPECT_EQ(file->models.size(), 2u);
  const auto& r = file->records[1];
  EXPECT_EQ(r.prompt, "question r1");
  EXPECT_EQ(json::parse(r.messages)[0]["content"], "question r1");
  ASSERT_TRUE(r.outcomes[static_cast<std::size_t>(file->model_index("m"))]);
  EXPECT_FALSE(r.outcomes[static_cast<std::size_t>(file->model_index("n"))]);
  std::vector<const OutcomeRecord*> records;
  for (const auto& rec : file->records) records.push_back(&rec);
  auto model = train_router(*file, records, TrainOptions{}, "log");
  ASSERT_TRUE(model) << model.error().message;
  EXPECT_EQ(model->models.size(), 2u);
}

TEST_F(DecisionLog, ARouterTrainedOnTheLogLearnsWhatTheFeedbackSaid) {
  // Each model served half of each kind of prompt; users liked m's proofs and not n's, and
  // both models' greetings.
  const char* proofs[] = {"prove the theorem about primes", "derive the bound for this lemma"};
  const char* greetings[] = {"say hello to my friend", "tell me a short joke"};
  std::vector<json> lines;
  for (int i = 0; i < 200; ++i) {
    const std::string id = "r" + std::to_string(i);
    const bool proof = i % 2 == 0;
    const std::string model = i % 4 < 2 ? "m" : "n";
    json d = decision(id, "auto", model, 0.001);
    d["prompt"] = std::string(proof ? proofs[i / 4 % 2] : greetings[i / 4 % 2]) + " " + id;
    lines.push_back(d);
    lines.push_back(feedback(id, proof && model == "n" ? 0 : 1));
  }
  write(lines);
  auto file = log_outcomes(*load_decision_log({path_}));
  ASSERT_TRUE(file) << file.error().message;
  std::vector<const OutcomeRecord*> records;
  for (const auto& rec : file->records) records.push_back(&rec);
  auto model = train_router(*file, records, TrainOptions{}, "log");
  ASSERT_TRUE(model) << model.error().message;
  const auto predict = [&](const std::string& text, const std::string& name) {
    PromptInfo p;
    p.text = text;
    std::vector<Feature> x;
    hashed_features(p, prompt_features(p), model->space, x);
    std::vector<double> quality(model->models.size()), tokens(model->models.size());
    model->predict(x, quality, tokens);
    return quality[static_cast<std::size_t>(model->model_index(name))];
  };
  const std::string proof = "prove the bound for this theorem", greeting = "say a short hello";
  EXPECT_GT(predict(proof, "m") - predict(proof, "n"), 0.3);
  EXPECT_LT(std::abs(predict(greeting, "m") - predict(greeting, "n")), 0.15);
}

TEST_F(DecisionLog, ErrorsNameTheLine) {
  write({decision("r1", "auto", "m", 0)});
  std::ofstream(path_, std::ios::app) << "not json\n";
  auto requests = load_decision_log({path_});
  ASSERT_FALSE(requests);
  EXPECT_EQ(requests.error().message,
            path_ + ":2: not a decision log line (a JSON object with a type)");
  // Without prompts there is nothing to train on.
  json no_prompt = decision("r1", "auto", "m", 0);
  no_prompt.erase("prompt");
  write({no_prompt, feedback("r1", 1)});
  auto file = log_outcomes(*load_decision_log({path_}));
  ASSERT_FALSE(file);
  EXPECT_NE(file.error().message.find("decision_log.prompts: true"), std::string::npos);
}

}  // namespace
}  // namespace switchyard::offline

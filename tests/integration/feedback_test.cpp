// Feedback and experiments end to end, against the simulator: POST /v1/feedback joins a score to
// its request in the decision log and the metrics, only for the key that asked and only once; an
// A/B split serves each session from one arm and every metric and log line names the arm; a
// bandit follows the feedback when the better model changes.
#include "offline/decision_log.hpp"
#include "support/fixture.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <map>
#include <random>

namespace switchyard::test {
namespace {

using json = nlohmann::json;

std::string config(unsigned short sim_port) {
  return fmt::format(R"(
upstreams:
  - name: sim
    base_url: http://127.0.0.1:{}/v1
    models:
      - {{name: m, price_usd_per_mtok: {{input: 1, output: 2}}}}
      - {{name: n, price_usd_per_mtok: {{input: 1, output: 2}}}}
routes:
  auto:
    split: {{arm: auto-b, percent: 50, by: session}}
    stages:
      - {{type: static, models: [m]}}
  auto-b:
    stages:
      - {{type: static, models: [n]}}
clients:
  keys:
    - {{name: team-a, key: "${{SY_TEST_A}}"}}
    - {{name: team-b, key: "${{SY_TEST_B}}"}}
decision_log: {{path: decisions.jsonl, prompts: true}}
)",
                     sim_port);
}

class Feedback : public ::testing::Test {
 protected:
  void SetUp() override {
    ::setenv("SY_TEST_A", "sk-a", 1);
    ::setenv("SY_TEST_B", "sk-b", 1);
    sim_ = start_sim();
    gw_.emplace(config(sim_->port()));
  }
  HttpResponse post(const std::string& path, const std::string& body, const std::string& key,
                    const std::string& session = "s") {
    return post_json(gw_->port(), path, body,
                     {{"authorization", "Bearer " + key}, {"x-session-id", session}});
  }
  // The decision log's lines so far, once it has at least `n`.
  std::vector<json> log_lines(std::size_t n) {
    std::vector<json> lines;
    EXPECT_TRUE(eventually([&] {
      lines.clear();
      std::ifstream in(gw_->dir().path() / "decisions.jsonl");
      for (std::string line; std::getline(in, line);) lines.push_back(json::parse(line));
      return lines.size() >= n;
    }));
    return lines;
  }

  std::unique_ptr<SimServer> sim_;
  std::optional<GatewayUnderTest> gw_;
};

TEST_F(Feedback, IsJoinedToItsRequestOnceAndOnlyForTheKeyThatAsked) {
  auto answer = post("/v1/chat/completions", chat_body("auto"), "sk-a");
  ASSERT_EQ(answer.status, 200) << answer.body;
  const std::string id = answer.header("x-request-id");
  ASSERT_FALSE(id.empty());
  const std::string model = answer.header("x-switchyard-model");
  const std::string route = answer.header("x-switchyard-route");
  const std::string up = json{{"request_id", id}, {"thumbs", "up"}}.dump();

  // Its decision line first, so that the log holds the two lines in this order.
  log_lines(1);
  auto other_key = post("/v1/feedback", up, "sk-b");
  EXPECT_EQ(other_key.status, 404) << other_key.body;
  EXPECT_EQ(json::parse(other_key.body)["error"]["param"], "request_id");
  EXPECT_EQ(post("/v1/feedback", up, "sk-wrong").status, 401);
  for (const std::string& bad : {std::string("not json"), json{{"request_id", id}}.dump(),
                                json{{"request_id", id}, {"score", 2}}.dump(),
                                json{{"request_id", id}, {"score", 1}, {"thumbs", "up"}}.dump(),
                                json{{"request_id", id}, {"score", 1}, {"extra", 1}}.dump()}) {
    auto r = post("/v1/feedback", bad, "sk-a");
    EXPECT_EQ(r.status, 400) << bad;
    EXPECT_EQ(json::parse(r.body)["error"]["type"], "invalid_request_error") << r.body;
  }
  auto ok = post("/v1/feedback", json{{"request_id", id}, {"score", 0.25}, {"comment", "meh"}}.dump(),
                 "sk-a");
  ASSERT_EQ(ok.status, 200) << ok.body;
  EXPECT_EQ(json::parse(ok.body)["score"], 0.25);
  EXPECT_EQ(post("/v1/feedback", up, "sk-a").status, 404);  // already rated
  EXPECT_EQ(http_request(gw_->port(), "GET", "/v1/feedback").status, 405);

  auto lines = log_lines(2);
  ASSERT_EQ(lines.size(), 2u);
  const json& decision = lines[0];
  EXPECT_EQ(decision["type"], "decision");
  EXPECT_EQ(decision["request_id"], id);
  EXPECT_EQ(decision["client"], "team-a");
  EXPECT_EQ(decision["route"], route);
  EXPECT_EQ(decision["experiment"], "auto");
  EXPECT_EQ(decision["model"], model);
  EXPECT_EQ(decision["status"], 200);
  EXPECT_EQ(decision["attempts"].size(), 1u);
  EXPECT_GT(decision["cost_usd"].get<double>(), 0);
  EXPECT_EQ(decision["prompt"], "Say hello to the tests.");
  EXPECT_GT(decision["features"]["tokens"].get<int>(), 0);
  // The served model's live statistics, beside it among the candidates: it has just answered.
  ASSERT_EQ(decision["live"].size(), decision["candidates"].size());
  int served = 0;
  for (std::size_t i = 0; i < decision["candidates"].size(); ++i) {
    if (decision["candidates"][i] != model + "@sim") continue;
    ++served;
    EXPECT_GT(decision["live"][i]["latency_ms"].get<double>(), 0) << decision.dump();
    EXPECT_EQ(decision["live"][i]["failure_rate"], 0.0);
    EXPECT_EQ(decision["live"][i]["breaker"], 0);
  }
  EXPECT_EQ(served, 1) << decision.dump();
  const json& feedback = lines[1];
  EXPECT_EQ(feedback["type"], "feedback");
  EXPECT_EQ(feedback["request_id"], id);
  EXPECT_EQ(feedback["model"], model);
  EXPECT_EQ(feedback["score"], 0.25);
  EXPECT_EQ(feedback["comment"], "meh");

  const std::string text = http_request(gw_->port(), "GET", "/metrics").body;
  EXPECT_EQ(metric(text, fmt::format(R"(switchyard_feedback_total{{model="{}",route="{}"}})", model,
                                     route)),
            1);
  EXPECT_EQ(metric(text, fmt::format(R"(switchyard_feedback_score_total{{model="{}",route="{}"}})",
                                     model, route)),
            0.25);
}

TEST_F(Feedback, AnExperimentKeepsEachSessionInOneArmAndNamesTheArm) {
  std::map<std::string, int> by_arm;
  for (int s = 0; s < 24; ++s) {
    const std::string session = "session-" + std::to_string(s);
    std::string arm;
    for (int turn = 0; turn < 2; ++turn) {
      auto r = post("/v1/chat/completions", chat_body("auto"), "sk-a", session);
      ASSERT_EQ(r.status, 200) << r.body;
      const double score = r.header("x-switchyard-model") == "n" ? 1 : 0;  // the arm is better
      ASSERT_EQ(post("/v1/feedback",
                     json{{"request_id", r.header("x-request-id")}, {"score", score}}.dump(),
                     "sk-a")
                    .status,
                200);
      if (turn == 0) arm = r.header("x-switchyard-route");
      EXPECT_EQ(r.header("x-switchyard-route"), arm) << session;
      EXPECT_EQ(r.header("x-switchyard-model"), arm == "auto-b" ? "n" : "m");
    }
    ++by_arm[arm];
  }
  ASSERT_EQ(by_arm.size(), 2u);  // 24 sessions at 50%: both arms (all in one: 2 in 2^24)
  const std::string text = http_request(gw_->port(), "GET", "/metrics").body;
  for (const auto& [arm, sessions] : by_arm) {
    const std::string model = arm == "auto-b" ? "n" : "m";
    EXPECT_EQ(metric(text, fmt::format(R"(switchyard_requests_total{{code="200",model="{}",route="{}"}})",
                                       model, arm)),
              2 * sessions)
        << text;
  }
  for (const json& line : log_lines(96))
    if (line["type"] == "decision") {
      EXPECT_EQ(line["experiment"], "auto");
    }

  // What `switchyard eval --log` and `train --log` read of it.
  auto requests = offline::load_decision_log({(gw_->dir().path() / "decisions.jsonl").string()});
  ASSERT_TRUE(requests) << requests.error().message;
  ASSERT_EQ(requests->size(), 48u);
  const auto report = offline::report_log(*requests, 100, 1);
  ASSERT_EQ(report.arms.size(), 2u);
  for (const auto& arm : report.arms) {
    EXPECT_EQ(arm.requests, 2u * static_cast<unsigned>(by_arm[arm.route]));
    EXPECT_EQ(arm.rated, arm.requests);
    EXPECT_EQ(arm.score.value, arm.route == "auto-b" ? 1 : 0);
  }
  auto file = offline::log_outcomes(*requests);
  ASSERT_TRUE(file) << file.error().message;
  EXPECT_EQ(file->records.size(), 48u);
}

TEST(BanditSim, FollowsTheFeedbackWhenTheBetterModelChanges) {
  // Through the gateway and the sim, by wall clock: a client rates m's answers good 80% of the
  // time and n's 30% for 4 s, then the other way round. The bandit (evidence halves every second,
  // at most 20% explored) has moved to the better model by the last 1.5 s of each phase.
  auto sim = start_sim();
  GatewayUnderTest gw(fmt::format(R"(
upstreams:
  - name: sim
    base_url: http://127.0.0.1:{}/v1
    models: [{{name: m}}, {{name: n}}]
routes:
  auto:
    stages:
      - {{type: static, models: [m, n]}}
      - {{type: bandit, explore: 0.2}}
feedback: {{half_life_s: 1}}
)",
                                  sim->port()));
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> u(0, 1);
  const auto t0 = std::chrono::steady_clock::now();
  int late[2] = {0, 0}, late_better[2] = {0, 0};
  for (;;) {
    const double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (t >= 8) break;
    const int phase = t < 4 ? 0 : 1;
    auto r = post_json(gw.port(), "/v1/chat/completions", chat_body("auto"));
    ASSERT_EQ(r.status, 200) << r.body;
    const std::string model = r.header("x-switchyard-model");
    const std::string better = phase == 0 ? "m" : "n";
    const double score = u(rng) < (model == better ? 0.8 : 0.3) ? 1 : 0;
    ASSERT_EQ(post_json(gw.port(), "/v1/feedback",
                        json{{"request_id", r.header("x-request-id")}, {"score", score}}.dump())
                  .status,
              200);
    if (t - 4 * phase >= 2.5) {
      ++late[phase];
      late_better[phase] += model == better;
    }
  }
  for (int p = 0; p < 2; ++p) {
    EXPECT_GT(late[p], 20) << "phase " << p;  // enough requests to judge
    EXPECT_GE(late_better[p], late[p] * 7 / 10) << "phase " << p << ": of " << late[p];
  }
}

}  // namespace
}  // namespace switchyard::test

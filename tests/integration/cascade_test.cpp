// The cascade through real sockets against the sim: it asks the upstream for logprobs when a
// gate needs them, escalates answers the model was unsure of, strips the logprobs it asked for
// from what the client gets (and keeps those the client asked for), and escalates when the
// models of a tier disagree; and every route counts what its answers cost against its strongest
// model. The sim's confidence is noisy (sd 0.3 per answer around 0.45 for a wrong answer and
// 0.95 for a right one), so the logprob checks count shares over 30 requests.
// Bounded: about a hundred requests to 127.0.0.1.
#include "support/fixture.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace switchyard::test {
namespace {

using nlohmann::json;

// Every answer of `wrong` is wrong (quality 0), every answer of `right` and `also-right` right.
struct Fleet {
  Fleet()
      : fleet_file(dir.write("fleet.yaml", R"(time_scale: 1
models:
  - {name: wrong, skill: 0, ttft_ms: {median: 1, sigma: 0}, tokens_per_s: {median: 0}}
  - {name: right, skill: 1, ttft_ms: {median: 1, sigma: 0}, tokens_per_s: {median: 0}}
  - {name: also-right, skill: 1, ttft_ms: {median: 1, sigma: 0}, tokens_per_s: {median: 0}}
  - {name: strong, skill: 1, ttft_ms: {median: 1, sigma: 0}, tokens_per_s: {median: 0}}
  - {name: embed, kind: embedding, dims: 64, ttft_ms: {median: 1, sigma: 0}}
)")) {
    auto f = sim::load_fleet(fleet_file);
    EXPECT_TRUE(f) << f.error().message;
    SimOptions o;
    if (f) o.fleet = std::shared_ptr<sim::Fleet>(std::move(*f));
    sim = start_sim(o);
  }
  // A gateway whose `auto` route cascades from `first_tier` (YAML) to strong.
  std::unique_ptr<GatewayUnderTest> gateway(const std::string& first_tier) const {
    return std::make_unique<GatewayUnderTest>(fmt::format(R"(
upstreams:
  - name: sim
    base_url: http://127.0.0.1:{}/v1
    models: [{{name: wrong}}, {{name: right}}, {{name: also-right}}, {{name: strong}}, {{name: embed}}]
routes:
  auto:
    stages: [{{type: static, models: [wrong, right, also-right, strong]}}]
    dispatcher:
      type: cascade
      tiers:
        - {}
        - {{models: [strong]}}
)",
                                                          sim->port(), first_tier));
  }
  TempDir dir;
  std::string fleet_file;
  std::unique_ptr<SimServer> sim;
};

constexpr int kRequests = 30;
// A token probability of 0.7: between the sim's wrong answers (0.45) and right ones (0.95).
constexpr const char* kConfident = "gates: {logprobs: {min_mean_prob: 0.7}}";

// Sends kRequests different prompts, with "logprobs": `says` unless empty; returns how many
// escalated, and checks each answer's logprobs: null unless the client asked for them.
int escalations(GatewayUnderTest& gw, const std::string& says = "") {
  const bool client_asks = says == "true";
  int escalated = 0;
  for (int i = 0; i < kRequests; ++i) {
    const std::string body =
        json{{"model", "auto"},
             {"messages", {{{"role", "user"}, {"content", fmt::format("question {}", i)}}}}}
            .dump();
    auto r = post_json(gw.port(), "/v1/chat/completions",
                       says.empty() ? body
                                    : body.substr(0, body.size() - 1) + R"(,"logprobs":)" + says +
                                          "}");
    EXPECT_EQ(r.status, 200) << r.body;
    if (r.status != 200) continue;
    escalated += r.header("x-switchyard-model") == "strong";
    const auto answer = json::parse(r.body, nullptr, false);
    EXPECT_TRUE(answer.is_object()) << r.body;
    if (!answer.is_object()) continue;
    const auto& lp = answer["choices"][0]["logprobs"];
    if (client_asks) {
      EXPECT_TRUE(lp.is_object()) << r.body;  // theirs, whichever model answered
    } else {
      EXPECT_TRUE(lp.is_null()) << r.body;  // the gate's were stripped
    }
  }
  return escalated;
}

TEST(CascadeSim, UnsureAnswersEscalateByTheirLogprobsWhichTheClientNeverSees) {
  Fleet fleet;
  auto unsure = fleet.gateway(fmt::format("{{models: [wrong], {}}}", kConfident));
  const int wrong_escalated = escalations(*unsure);
  EXPECT_GE(wrong_escalated, kRequests / 2);
  auto sure = fleet.gateway(fmt::format("{{models: [right], {}}}", kConfident));
  const int right_escalated = escalations(*sure);
  EXPECT_LT(right_escalated, kRequests / 2);
  // The escalation names the gate; the sim saw logprobs asked of the first tier only.
  const std::string metrics = http_request(unsure->port(), "GET", "/metrics").body;
  EXPECT_EQ(metric(metrics,
                   R"(switchyard_gate_results_total{gate="logprobs",result="fail",route="auto"})"),
            wrong_escalated);
  // A client that asks for logprobs gets them, from either tier; one that says false is judged
  // all the same, and gets none.
  escalations(*unsure, "true");
  EXPECT_GE(escalations(*unsure, "false"), kRequests / 2);
  // A stream is judged whole, then replayed with the logprobs nulled in every event.
  for (int i = 0; i < 5; ++i) {
    auto r = post_json(sure->port(), "/v1/chat/completions",
                       chat_body("auto", fmt::format(R"("stream":true,"user":"u{}")", i)));
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_NE(r.body.find("data: [DONE]"), std::string::npos) << r.body;
    EXPECT_EQ(r.body.find(R"("logprobs":{)"), std::string::npos) << r.body;
  }
}

TEST(CascadeSim, ModelsThatSayDifferentThingsEscalate) {
  Fleet fleet;
  auto gw = fleet.gateway("{models: [right, also-right], gates: {agreement: {min_share: 1}}}");
  auto r = post_json(gw->port(), "/v1/chat/completions", chat_body("auto"));
  ASSERT_EQ(r.status, 200) << r.body;
  // The sim writes each model's answer in its own words: two right answers, different text.
  EXPECT_EQ(r.header("x-switchyard-model"), "strong");
  EXPECT_EQ(r.header("x-switchyard-escalations"), "right: agreement (1 of 2 agree)");
  EXPECT_EQ(r.header("x-switchyard-attempts"), "3");
}

TEST(CascadeSim, AnAnswerToAKnownQuestionIsComparedWithItsReferenceByEmbeddings) {
  Fleet fleet;
  auto gw = fleet.gateway(
      "{models: [right], gates: {similar: {model: embed, references: "
      "[{question: 'What is the capital of France?', answer: 'zq xj vk wp'}]}}}");
  auto ask = [&](const std::string& question) {
    return post_json(
        gw->port(), "/v1/chat/completions",
        json{{"model", "auto"}, {"messages", {{{"role", "user"}, {"content", question}}}}}.dump());
  };
  // The known question: the sim's answer is nothing like the reference's letters.
  auto known = ask("What is the capital of France?");
  ASSERT_EQ(known.status, 200) << known.body;
  EXPECT_EQ(known.header("x-switchyard-model"), "strong");
  EXPECT_EQ(known.header("x-switchyard-escalations").find("right: similar (similarity "), 0u)
      << known.header("x-switchyard-escalations");
  EXPECT_EQ(known.header("x-switchyard-attempts"), "3");  // right, the embeddings, strong
  // Another question is not the gate's to judge.
  auto other = ask("Tell me a story about a dragon who collects teapots.");
  ASSERT_EQ(other.status, 200) << other.body;
  EXPECT_EQ(other.header("x-switchyard-model"), "right");
  EXPECT_EQ(other.header("x-switchyard-attempts"), "2");
}

TEST(CascadeSim, EveryRouteCountsWhatItsAnswersCostAgainstItsStrongestModelAlone) {
  Fleet fleet;
  GatewayUnderTest gw(fmt::format(R"(
upstreams:
  - name: sim
    base_url: http://127.0.0.1:{}/v1
    models:
      - {{name: right, price_usd_per_mtok: {{input: 1, output: 2}}}}
      - {{name: strong, price_usd_per_mtok: {{input: 10, output: 20}}}}
routes:
  auto:
    stages: [{{type: static, models: [right, strong]}}]
    dispatcher: {{type: single}}
)",
                                  fleet.sim->port()));
  double charged = 0;  // what the responses said they cost
  for (int i = 0; i < 3; ++i) {
    auto r = post_json(gw.port(), "/v1/chat/completions", chat_body("auto"));
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.header("x-switchyard-model"), "right");
    charged += std::stod(r.header("x-switchyard-cost-usd"));
  }
  ASSERT_GT(charged, 0);
  // Counted once each request has been logged, just after its response.
  std::string text;
  EXPECT_TRUE(eventually([&] {
    text = http_request(gw.port(), "GET", "/metrics").body;
    return metric(text, R"(switchyard_route_spent_usd_total{route="auto"})") >= charged * 0.99;
  })) << text;
  const double spent = metric(text, R"(switchyard_route_spent_usd_total{route="auto"})");
  EXPECT_NEAR(spent, charged, charged * 0.01);
  // strong, ten times the price on the same tokens, is the route's strongest model.
  EXPECT_NEAR(metric(text, R"(switchyard_route_baseline_usd_total{route="auto"})"), 10 * spent,
              spent * 0.01);
}

}  // namespace
}  // namespace switchyard::test

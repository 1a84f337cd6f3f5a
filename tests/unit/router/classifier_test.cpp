// The rule classifier (router/classify/) and the prompt features it reads: one test per feature,
// on snapshots built from YAML, without sockets.
#include "api/request.hpp"
#include "metrics/metrics.hpp"
#include "router/classify/features.hpp"
#include "router/decision.hpp"
#include "router/resolve.hpp"
#include "router/snapshot.hpp"
#include "support/fakes.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <random>

namespace switchyard::test {
namespace {

const std::string kModels = R"(
upstreams:
  - name: u
    base_url: http://127.0.0.1:1/v1
    models: [{name: nano}, {name: small}, {name: large}]
)";

// A route whose classifier has `rules`, maps the labels in `tiers`, and defaults to small.
std::string route(const std::string& rules, const std::string& tiers,
                  const std::string& extra = "") {
  return kModels + "routes:\n  auto:\n    stages:\n      - type: classifier\n        rules:\n" +
         rules + "        tiers:\n" + tiers + "        default: [small]\n" + extra;
}

class Classifier : public ::testing::Test {
 protected:
  // The models the route picks for a chat body with these messages (and members).
  std::vector<std::string> pick(const std::string& yaml, const std::string& messages,
                                const std::string& members = "") {
    snap_ = snapshot_from_yaml(metrics_, yaml);
    if (!snap_) return {"<no snapshot>"};
    auto r = parse_api_request(Endpoint::chat_completions,
                               R"({"model":"auto","messages":)" + messages + members + "}");
    EXPECT_TRUE(r) << (r ? "" : r.error().message);
    if (!r) return {};
    req_ = std::move(*r);
    ctx_.emplace(*snap_, req_, ups_);
    EXPECT_TRUE(resolve(*ctx_));
    std::vector<std::string> out;
    for (const auto* t : ctx_->candidates) out.push_back(t->model->name);
    return out;
  }

  static std::string user(const std::string& text) {
    return R"([{"role":"user","content":)" + nlohmann::json(text).dump() + "}]";
  }

  Metrics metrics_;
  std::shared_ptr<const Snapshot> snap_;
  ApiRequest req_;
  FakeUpstreams ups_;
  std::optional<RouteContext> ctx_;
};

using V = std::vector<std::string>;

TEST_F(Classifier, CodeFencesAndCodeLines) {
  auto yaml = route("          - {label: code, when: {code: true}}\n", "          code: [large]\n");
  EXPECT_EQ(pick(yaml, user("Fix this:\n```\nx = 1\n```")), V{"large"});
  EXPECT_EQ(pick(yaml, user("def f(x):\n    return x + 1\nprint(f(2));")), V{"large"});
  EXPECT_EQ(pick(yaml, user("What is the capital of France?")), V{"small"});
  EXPECT_EQ(pick(yaml, user("Import taxes: are they fair; discuss.")), V{"small"});
}

TEST_F(Classifier, MathButNotDates) {
  auto yaml = route("          - {label: math, when: {math: true}}\n", "          math: [large]\n");
  EXPECT_EQ(pick(yaml, user("Solve 3x + 4 = 19 for x.")), V{"large"});
  EXPECT_EQ(pick(yaml, user("Simplify \\frac{a}{b}")), V{"large"});
  EXPECT_EQ(pick(yaml, user("x = 5 and y^2 = 9")), V{"large"});
  EXPECT_EQ(pick(yaml, user("We met on 2024-01-31 and 1/2/2024.")), V{"small"});
  EXPECT_EQ(pick(yaml, user("C++ and a + b are not numbers, nor is A-1 = B.")), V{"small"});
}

TEST_F(Classifier, TokenEstimateAndTurns) {
  auto yaml = route("          - {label: long, when: {tokens_over: 100}}\n"
                    "          - {label: deep, when: {turns_over: 2}}\n"
                    "          - {label: loop, when: {messages_over: 4}}\n"
                    "          - {label: short, when: {tokens_under: 5}}\n",
                    "          long: [large]\n          deep: [large, small]\n"
                    "          loop: [small, large]\n          short: [nano]\n");
  EXPECT_EQ(pick(yaml, user(std::string(404, 'a'))), V{"large"});  // 101 tokens
  EXPECT_EQ(pick(yaml, user(std::string(400, 'a'))), V{"small"});  // 100: not over
  EXPECT_EQ(pick(yaml, user("hi")), V{"nano"});
  const std::string three_turns =
      R"([{"role":"user","content":"aaaaaaaaaaaa"},{"role":"assistant","content":"b"},)"
      R"({"role":"user","content":"c"},{"role":"user","content":"d"}])";
  EXPECT_EQ(pick(yaml, three_turns), (V{"large", "small"}));
  // Five messages but one user turn: an agent loop of tool calls and results.
  const std::string agent_loop =
      R"([{"role":"system","content":"s"},)"
      R"({"role":"user","content":"go on with the plan we agreed on"},)"
      R"({"role":"assistant","content":"a"},{"role":"tool","content":"t"},)"
      R"({"role":"assistant","content":"b"}])";
  EXPECT_EQ(pick(yaml, agent_loop), (V{"small", "large"}));
  EXPECT_EQ(pick(yaml, agent_loop.substr(0, agent_loop.rfind(",{")) + "]"), V{"small"});
}

TEST_F(Classifier, KeywordsAreWholeWordsAndRegexesAreRe2) {
  auto yaml = route("          - {label: translate, when: {keywords: [translate, 'c++']}}\n"
                    "          - {label: greeting, when: {regex: '(?i)^(hello|hi)\\b'}}\n",
                    "          translate: [nano]\n          greeting: [large]\n");
  EXPECT_EQ(pick(yaml, user("Please TRANSLATE this")), V{"nano"});
  EXPECT_EQ(pick(yaml, user("mistranslated")), V{"small"});
  EXPECT_EQ(pick(yaml, user("Hello there")), V{"large"});
  EXPECT_EQ(pick(yaml, user("Say hello")), V{"small"});
}

TEST_F(Classifier, OneStageAnswersEachRequestAfreshFromOnePass) {
  // Five patterns over the prompt and one over the system prompt, searched together; one
  // snapshot serves every request, so what matched one must not carry over to the next.
  snap_ = snapshot_from_yaml(
      metrics_, route("          - {label: sql, when: {keywords: [sql, postgres]}}\n"
                      "          - {label: why, when: {regex: '(?i)\\bwhy\\b'}}\n"
                      "          - {label: both, when: {keywords: [sql], regex: 'index'}}\n"
                      "          - {label: long, when: {tokens_over: 1000, keywords: [sql]}}\n"
                      "          - {label: legal, when: {system_keywords: [contract]}}\n",
                      "          sql: [nano]\n          why: [large]\n"));
  ASSERT_TRUE(snap_);
  const auto labels = [&](const std::string& messages) {
    auto r = parse_api_request(Endpoint::chat_completions,
                               R"({"model":"auto","messages":)" + messages + "}");
    EXPECT_TRUE(r);
    if (!r) return std::string();
    RouteContext ctx(*snap_, *r, ups_);
    EXPECT_TRUE(resolve(ctx));
    std::string out;
    for (const auto& l : ctx.decision.labels) out += std::string(out.empty() ? "" : ",") += l.name;
    return out;
  };
  EXPECT_EQ(labels(user("Why is my SQL index slow?")), "sql,why,both");
  EXPECT_EQ(labels(user("plain text")), "");
  EXPECT_EQ(labels(user("postgres")), "sql");
  EXPECT_EQ(labels(R"([{"role":"system","content":"Check the contract."},)"
                   R"({"role":"user","content":"why?"}])"),
            "why,legal");
  EXPECT_EQ(labels(user("sql " + std::string(5000, 'x'))), "sql,long");
}

TEST_F(Classifier, ThePromptsAndTheSystemPromptsMatchesAreKeptApart) {
  // The first rule searches both texts before the second asks about the prompt again: each
  // text's matches must survive the other's search (both sets number their patterns from 0).
  snap_ = snapshot_from_yaml(
      metrics_, route("          - {label: a, when: {keywords: [sql],\n"
                      "                              system_keywords: [contract]}}\n"
                      "          - {label: b, when: {keywords: [hello]}}\n"
                      "          - {label: c, when: {system_keywords: [hello]}}\n",
                      "          b: [nano]\n"));
  ASSERT_TRUE(snap_);
  auto r = parse_api_request(Endpoint::chat_completions,
                             R"({"model":"auto","messages":[{"role":"system","content":"x"},)"
                             R"({"role":"user","content":"sql hello"}]})");
  ASSERT_TRUE(r);
  RouteContext ctx(*snap_, *r, ups_);
  ASSERT_TRUE(resolve(ctx));
  ASSERT_EQ(ctx.decision.labels.size(), 1u);
  EXPECT_EQ(ctx.decision.labels[0].name, "b");
}

TEST_F(Classifier, SystemPromptDomainWords) {
  auto yaml = route("          - {label: legal, when: {system_keywords: [contract, plaintiff]}}\n",
                    "          legal: [large]\n");
  EXPECT_EQ(pick(yaml, R"([{"role":"system","content":"You review a contract."},)"
                       R"({"role":"user","content":"Is clause 3 fine?"}])"),
            V{"large"});
  // The same words in the user's message are not the system prompt's domain.
  EXPECT_EQ(pick(yaml, user("Write a contract.")), V{"small"});
}

TEST_F(Classifier, JsonOutputToolsAndImages) {
  auto yaml = route("          - {label: json, when: {json_output: true}}\n"
                    "          - {label: tools, when: {tools: true}}\n"
                    "          - {label: vision, when: {images: true}}\n",
                    "          json: [nano]\n          tools: [large]\n          vision: [large, nano]\n");
  EXPECT_EQ(pick(yaml, user("x"), R"(,"response_format":{"type":"json_object"})"), V{"nano"});
  EXPECT_EQ(pick(yaml, user("x"), R"(,"tools":[{"type":"function","function":{"name":"f"}}])"),
            V{"large"});
  EXPECT_EQ(pick(yaml, R"([{"role":"user","content":[{"type":"text","text":"what is this"},)"
                       R"({"type":"image_url","image_url":{"url":"data:,"}}]}])"),
            (V{"large", "nano"}));
  EXPECT_EQ(pick(yaml, user("x"), R"(,"tools":[])"), V{"small"});
}

TEST_F(Classifier, LowConfidenceFallsBackAndTheDecisionRecordsEveryLabel) {
  auto yaml = route("          - {label: code, when: {code: true}, confidence: 0.4}\n"
                    "          - {label: anything, confidence: 0.9}\n",
                    "          code: [nano]\n",
                    "        min_confidence: 0.6\n        fallback: [large]\n");
  EXPECT_EQ(pick(yaml, user("```x```")), V{"large"});
  EXPECT_TRUE(ctx_->decision.fallback);
  ASSERT_EQ(ctx_->decision.labels.size(), 2u);
  EXPECT_EQ(ctx_->decision.labels[0].name, "code");
  EXPECT_EQ(decision_json(ctx_->decision),
            R"({"fallback":true,"labels":[{"confidence":0.4,"label":"code"},)"
            R"({"confidence":0.9,"label":"anything"}],"tier":"code"})");
  // "anything" has no tier: with no code, the default decides.
  EXPECT_EQ(pick(yaml, user("plain")), V{"small"});
  EXPECT_FALSE(ctx_->decision.fallback);
  EXPECT_EQ(ctx_->decision.tier, "default");
}

// The decision reaches the client only when asked for, with x-switchyard-debug: 1.
TEST_F(Classifier, TheDecisionHeaderIsSentOnlyInDebug) {
  auto yaml = route("          - {label: code, when: {code: true}, confidence: 0.9}\n",
                    "          code: [large]\n");
  for (bool debug : {false, true}) {
    ASSERT_EQ(pick(yaml, user("```x```")), V{"large"});
    req_.debug = debug;
    RecordingWriter out;
    ASSERT_TRUE(run(snap_->routes.at("auto").dispatcher->dispatch(*ctx_, out)));
    EXPECT_EQ(out.status, 200);
    EXPECT_EQ(out.headers["x-switchyard-model"], "large");
    if (!debug) {
      EXPECT_FALSE(out.headers.contains("x-switchyard-decision"));
      continue;
    }
    auto d = nlohmann::json::parse(out.headers["x-switchyard-decision"], nullptr, false);
    ASSERT_TRUE(d.is_object()) << out.headers["x-switchyard-decision"];
    EXPECT_EQ(d["tier"], "code");
    EXPECT_EQ(d["labels"][0]["label"], "code");
    EXPECT_EQ(d["labels"][0]["confidence"], 0.9);
  }
}

TEST(ClassifierConfig, ErrorsNameThePath) {
  Metrics metrics;
  auto build = [&](const std::string& yaml) {
    auto loaded = parse_config(yaml, "c.yaml");
    if (!loaded.config) return loaded.error;
    auto built = build_snapshot(std::move(*loaded.config), metrics);
    return built.error;
  };
  EXPECT_EQ(build(route("          - {label: x, when: {regex: '(unclosed'}}\n", "          x: [large]\n")),
            "routes.auto.stages[0].rules[0].when.regex: not a valid RE2 pattern: missing ): (unclosed");
  EXPECT_EQ(build(route("          - {label: x, when: {cod: true}}\n", "          x: [large]\n")),
            "routes.auto.stages[0].rules[0].when.cod: unknown key");
  EXPECT_EQ(build(route("          - {label: x}\n", "          y: [large]\n")),
            "routes.auto.stages[0].tiers.y: no rule yields the label \"y\"");
  EXPECT_EQ(build(route("          - {label: x}\n", "          x: [huge]\n")),
            "routes.auto.stages[0].tiers.x[0]: unknown model \"huge\" (known: nano, small, large)");
}

TEST(PromptFeatures, CountTheWholeConversation) {
  PromptInfo p;
  p.text = "abcdefgh";
  p.chars = 400;
  p.messages = 3;
  p.user_turns = 2;
  auto f = prompt_features(p);
  EXPECT_EQ(f.tokens, 100u);
  EXPECT_EQ(f.prompt_tokens, 2u);
  EXPECT_EQ(f.user_turns, 2u);
  EXPECT_FALSE(f.code);
  EXPECT_FALSE(f.math);
}

// looks_like_math finds operators with memchr, one operator at a time; it must decide as the
// plain loop over every byte, below, does.
bool math_by_byte_loop(std::string_view text) {
  const auto letter = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); };
  const auto digit = [](char c) { return c >= '0' && c <= '9'; };
  const auto space = [](char c) { return c == ' ' || c == '\t' || c == '\r'; };
  const auto variable = [&](std::size_t k) {
    return text[k] >= 'a' && text[k] <= 'z' && (k == 0 || !letter(text[k - 1])) &&
           (k + 1 == text.size() || !letter(text[k + 1]));
  };
  int ops = 0;
  for (std::size_t j = 1; j + 1 < text.size(); ++j) {
    const char op = text[j];
    if (std::string_view("+*^=-/").find(op) == std::string_view::npos) continue;
    std::size_t l = j, r = j + 1;
    while (l > 0 && space(text[l - 1])) --l;
    while (r < text.size() && space(text[r])) ++r;
    if (l == 0 || r >= text.size()) continue;
    --l;
    if ((op == '-' || op == '/') && (l + 1 == j || r == j + 1)) continue;
    const bool ld = digit(text[l]), rd = digit(text[r]);
    if ((ld || rd) && (ld || variable(l)) && (rd || variable(r)) && ++ops >= 2) return true;
  }
  return false;
}

TEST(PromptFeatures, MathDecidesAsALoopOverEveryByte) {
  std::mt19937 rng(11);
  const std::string_view alphabet = "ab xyZ19 +-*/^=\t\r";
  int found = 0;
  for (int i = 0; i < 20'000; ++i) {
    std::string text(std::uniform_int_distribution<int>(0, 24)(rng), ' ');
    for (char& c : text)
      c = alphabet[std::uniform_int_distribution<std::size_t>(0, alphabet.size() - 1)(rng)];
    ASSERT_EQ(looks_like_math(text), math_by_byte_loop(text)) << '"' << text << '"';
    found += math_by_byte_loop(text);
  }
  EXPECT_GT(found, 300);  // both answers were asked for often (598 of 20,000 true)
  EXPECT_LT(found, 19'000);
}

TEST(HashedFeatures, CharNgramsIgnoreCaseAndWhitespaceRuns) {
  auto indices = [](std::string text, std::uint32_t n) {
    PromptInfo p;
    p.text = std::move(text);
    std::vector<Feature> out;
    hashed_features(p, prompt_features(p), {.hash_bits = 16, .char_ngrams = n}, out);
    std::vector<std::uint32_t> hashed;
    for (const auto& f : out)
      if (f.index < (1u << 16)) hashed.push_back(f.index);
    return std::pair{hashed, out};
  };
  auto [words, words_out] = indices("Abc,  d", 0);
  EXPECT_EQ(words.size(), 2u);  // "abc", "d"
  EXPECT_EQ(words_out.size(), 2u + kDenseFeatures);
  auto [grams, grams_out] = indices("Abc,  d", 3);
  ASSERT_EQ(grams.size(), 2u + 4u);  // and "abc", "bc,", "c, ", ", d"
  EXPECT_EQ(grams, indices("  aBC,\n\td", 3).first);
  EXPECT_NE(grams, indices("Abc, e", 3).first);
  // Each group weighs 1/sqrt(its count): the words 1/sqrt(2), the n-grams 1/2.
  EXPECT_FLOAT_EQ(grams_out[0].value, 1 / std::sqrt(2.0f));
  EXPECT_FLOAT_EQ(grams_out[2].value, 0.5f);
  EXPECT_EQ(indices("ab", 3).first.size(), 1u);  // shorter than n: the word alone
}

}  // namespace
}  // namespace switchyard::test

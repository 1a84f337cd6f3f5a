// switchyard eval end to end in process: an outcomes file, a configured route, the report.
#include "offline/eval.hpp"
#include "offline/replay.hpp"
#include "support/fixture.hpp"

#include <gtest/gtest.h>

#include <cmath>

namespace switchyard::offline {
namespace {

// Three models on four prompts. "cheap" is right on prompts 1 and 3, "mid" on 1, 2 and 3,
// "best" on all; their costs are 1, 2 and 4 (×1e-3 USD) on every prompt.
std::string four_prompts() {
  std::string out;
  for (int i = 1; i <= 4; ++i) {
    auto q = [&](bool right) { return right ? "1" : "0"; };
    out += R"({"id":"p)" + std::to_string(i) + R"(","split":"test","messages":[{"role":"user","content":"question )" +
           std::to_string(i) + R"("}],"outcomes":{)" +
           R"("cheap":{"quality":)" + q(i % 2 == 1) + R"(,"cost_usd":0.001,"output_tokens":3,"response":"c"},)" +
           R"("mid":{"quality":)" + q(i != 4) + R"(,"cost_usd":0.002,"output_tokens":3,"response":"m"},)" +
           R"("best":{"quality":1,"cost_usd":0.004,"output_tokens":3,"response":"b"}}})" + "\n";
  }
  return out;
}

Config config_with(const std::string& models, const std::string& routes) {
  auto loaded = parse_config(
      "upstreams:\n  - name: recorded\n    base_url: http://127.0.0.1:9/v1\n    models:\n" +
          models + "routes:\n" + routes,
      "eval.yaml");
  EXPECT_TRUE(loaded.config) << loaded.error;
  return loaded.config ? std::move(*loaded.config) : Config{};
}

const std::string kThree =
    "      - {name: cheap, id: cheap-v1}\n      - {name: mid}\n      - {name: best}\n";

std::string static_route(const std::string& name, const std::string& models) {
  return "  " + name + ":\n    stages:\n      - {type: static, models: [" + models +
         "]}\n    dispatcher: {type: single}\n";
}

double figure(const EvalReport& r, const std::string& name) {
  for (const auto& f : r.figures)
    if (f.name == name) return f.value.value;
  ADD_FAILURE() << "no figure " << name;
  return NAN;
}

TEST(Eval, StaticRouteReproducesItsSingleModelBaselineExactly) {
  test::TempDir dir;
  EvalOptions o;
  o.config = config_with(kThree, static_route("auto", "mid"));
  o.data = dir.write("o.jsonl", four_prompts());
  o.bootstrap = 50;
  auto r = evaluate(o);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->prompts, 4u);
  EXPECT_FALSE(r->swept);
  EXPECT_EQ(r->configured.cost, 0.002);
  EXPECT_EQ(r->configured.quality, 0.75);
  EXPECT_EQ(figure(*r, "route.cost"), figure(*r, "single.mid.cost"));
  EXPECT_EQ(figure(*r, "route.quality"), figure(*r, "single.mid.quality"));
  EXPECT_EQ(r->best_model, "best");
  // The oracle: "cheap" on 1 and 3, "mid" on 2, "best" on 4.
  EXPECT_DOUBLE_EQ(r->oracle.cost, (0.001 + 0.002 + 0.001 + 0.004) / 4);
  EXPECT_EQ(r->oracle.quality, 1.0);
  EXPECT_DOUBLE_EQ(r->random.quality, (0.5 + 0.75 + 1.0) / 3);
  // A single point at 0.002 with quality 0.75, flat to the dearest model's 0.004.
  EXPECT_DOUBLE_EQ(figure(*r, "route.aiq"), 0.75 * (0.004 - 0.002) / 0.004);
  // It never reaches 95% of the best model's quality.
  EXPECT_TRUE(std::isnan(figure(*r, "route.cost_to_95")));
}

TEST(Eval, ModelsTheFileLacksAreLeftOutAndAliasesMapNames) {
  test::TempDir dir;
  EvalOptions o;
  // The config knows "best" as "strong-model", and also has a model the file lacks.
  o.config = config_with("      - {name: cheap}\n      - {name: strong-model}\n      - {name: other}\n",
                         static_route("auto", "other, strong-model"));
  o.data = dir.write("o.jsonl", four_prompts());
  o.aliases = {{"best", "strong-model"}};
  o.bootstrap = 10;
  auto r = evaluate(o);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->left_out, std::vector<std::string>{"other"});
  EXPECT_EQ(r->models, (std::vector<std::string>{"best", "cheap"}));  // in the file's order
  // "other" is dropped from the candidates: "best" answers every prompt, with one call each.
  EXPECT_EQ(r->configured.quality, 1.0);
  EXPECT_DOUBLE_EQ(r->configured.cost, 0.004);

  o.aliases = {{"nope", "x"}};
  auto bad = evaluate(o);
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("--alias nope"), std::string::npos);
}

TEST(Eval, UnknownRouteAndUnreadableFileAreErrors) {
  test::TempDir dir;
  EvalOptions o;
  o.config = config_with(kThree, static_route("auto", "mid"));
  o.data = dir.write("o.jsonl", four_prompts());
  o.route = "nope";
  auto r = evaluate(o);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("no route \"nope\""), std::string::npos);
  o.route = "auto";
  o.data = (dir.path() / "missing.jsonl").string();
  r = evaluate(o);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("missing.jsonl: cannot open"), std::string::npos);
}

TEST(Replay, EveryCallIsChargedAndAFailedCallFallsBack) {
  test::TempDir dir;
  // "cheap" has no answer to this prompt: its call fails (503) and costs nothing; "mid" answers.
  auto file = load_outcomes(dir.write(
      "o.jsonl",
      R"({"messages":[{"role":"user","content":"q"}],"outcomes":{"mid":{"quality":0.5,"cost_usd":0.25},"cheap":{"quality":1}}})"
      "\n"
      R"({"messages":[{"role":"user","content":"r"}],"outcomes":{"mid":{"quality":0.5,"cost_usd":0.25}}})"
      "\n"));
  ASSERT_TRUE(file) << file.error().message;
  Metrics metrics;
  auto built = build_snapshot(config_with(kThree, static_route("auto", "cheap, mid")), metrics);
  ASSERT_TRUE(built.snapshot) << built.error;
  Replayer replayer(built.snapshot, "auto",
                    {{"cheap", file->model_index("cheap")}, {"mid", file->model_index("mid")}});
  auto first = replayer.run(file->records[0]);
  EXPECT_EQ(first.calls, 1u);
  EXPECT_EQ(first.chosen, file->model_index("cheap"));
  EXPECT_EQ(first.quality, 1.0);
  auto second = replayer.run(file->records[1]);
  EXPECT_EQ(second.calls, 2u);
  EXPECT_EQ(second.chosen, file->model_index("mid"));
  EXPECT_EQ(second.cost, 0.25);
  EXPECT_EQ(second.quality, 0.5);
}

// Replays the one prompt of `line` (an outcomes line of cheap, mid and best) through a cascade
// gated by `first_tier`, then best; sets `best` to the file's index of best.
PromptResult replay_cascade(const std::string& line, const std::string& first_tier, int& best) {
  test::TempDir dir;
  auto file = load_outcomes(dir.write("o.jsonl", line + "\n"));
  EXPECT_TRUE(file) << file.error().message;
  if (!file) return {};
  Metrics metrics;
  auto built = build_snapshot(
      config_with(kThree, "  auto:\n    stages: [{type: static, models: [cheap, best]}]\n"
                          "    dispatcher:\n      type: cascade\n      tiers:\n"
                          "        - {models: [cheap], gates: " + first_tier + "}\n"
                          "        - {models: [best]}\n"),
      metrics);
  EXPECT_TRUE(built.snapshot) << built.error;
  if (!built.snapshot) return {};
  best = file->model_index("best");
  Replayer replayer(built.snapshot, "auto",
                    {{"cheap", file->model_index("cheap")},
                     {"mid", file->model_index("mid")},
                     {"best", best}});
  return replayer.run(file->records[0]);
}

TEST(Replay, AJudgesPromptHasNoRecordedAnswerAndSaysSo) {
  // mid's recorded answer would read as a grade of 9 if the judge were handed it.
  int best = -1;
  auto r = replay_cascade(
      R"({"messages":[{"role":"user","content":"q"}],"outcomes":{"cheap":{"quality":0,"cost_usd":0.001,"response":"c"},"mid":{"quality":1,"cost_usd":0.002,"response":"9"},"best":{"quality":1,"cost_usd":0.004,"response":"b"}}})",
      "{judge: {model: mid}, logprobs: {min_mean_prob: 0.1}, mode: any}", best);
  // cheap asked with logprobs, which no record has; the judge's call answered 503 at no cost;
  // so the cascade escalated to best.
  EXPECT_EQ(r.calls, 3u);
  EXPECT_EQ(r.logprobs_asked, 1u);
  EXPECT_EQ(r.unrecorded, 1u);
  EXPECT_EQ(r.choices_asked, 0u);
  EXPECT_EQ(r.chosen, best);
  EXPECT_DOUBLE_EQ(r.cost, 0.005);
}

TEST(Replay, SampledChoicesAreCountedAndNotMadeUp) {
  int best = -1;
  auto r = replay_cascade(
      R"({"messages":[{"role":"user","content":"q"}],"outcomes":{"cheap":{"quality":1,"cost_usd":0.001,"response":"B"},"mid":{"quality":1},"best":{"quality":1,"cost_usd":0.004,"response":"B"}}})",
      "{agreement: {min_share: 0.6, samples: 3}}", best);
  // The file has one answer of cheap's, not three that might agree: 1 of 3, so best answers.
  EXPECT_EQ(r.choices_asked, 1u);
  EXPECT_EQ(r.calls, 2u);
  EXPECT_EQ(r.chosen, best);
}

TEST(Outcomes, SplitsAreAListAndBadValuesNameTheLine) {
  test::TempDir dir;
  auto path = dir.write("o.jsonl", R"({"split":"train","messages":[{"role":"user","content":"a"}],"outcomes":{"m":{"quality":1}}})"
                                   "\n"
                                   R"({"split":"validation","messages":[{"role":"user","content":"b"}],"outcomes":{"n":{"quality":0}}})"
                                   "\n"
                                   R"({"split":"test","messages":[{"role":"user","content":"c"}],"outcomes":{"m":{"quality":0.5}}})"
                                   "\n");
  auto two = load_outcomes(path, "train,validation");
  ASSERT_TRUE(two) << two.error().message;
  ASSERT_EQ(two->records.size(), 2u);
  EXPECT_EQ(two->models, (std::vector<std::string>{"m", "n"}));
  EXPECT_FALSE(two->records[0].outcomes[1].has_value());  // "a" has no answer of "n"
  EXPECT_EQ(two->records[1].prompt, "b");
  EXPECT_FALSE(load_outcomes(path, "dev"));

  auto bad = load_outcomes(dir.write("bad.jsonl", "\n" R"({"messages":[{"role":"user","content":"a"}],"outcomes":{"m":{"quality":2}}})"));
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("bad.jsonl:2: outcomes.m.quality"), std::string::npos)
      << bad.error().message;
}

TEST(Outcomes, CostsAndTokensAreNumbersOrAbsentAndBlankOrCrlfLinesAreSkipped) {
  test::TempDir dir;
  const std::string line =
      R"({"messages":[{"role":"user","content":"a"}],"outcomes":{"m":{"quality":1,"cost_usd":)";
  const std::string text = line + R"(0.5,"output_tokens":3.0}}})" "\r\n \t\r\n" + line +
                           R"(null,"output_tokens":null}}})" "\r\n";
  auto ok = load_outcomes(dir.write("ok.jsonl", text));
  ASSERT_TRUE(ok) << ok.error().message;
  ASSERT_EQ(ok->records.size(), 2u);
  EXPECT_EQ(ok->records[0].outcomes[0]->cost_usd, 0.5);
  EXPECT_EQ(ok->records[0].outcomes[0]->output_tokens, 3u);  // as pandas writes integers
  EXPECT_EQ(ok->records[1].outcomes[0]->cost_usd, 0);        // null: not recorded

  auto bad = [&](const std::string& text) {
    auto r = load_outcomes(dir.write("bad.jsonl", "\n" + text + "\n"));
    return r ? std::string("accepted") : r.error().message;
  };
  EXPECT_NE(bad(line + R"("0.5"}}})").find("bad.jsonl:2: outcomes.m.cost_usd must be a number"),
            std::string::npos);
  EXPECT_NE(bad(line + R"(1,"output_tokens":-2}}})").find("outcomes.m.output_tokens"),
            std::string::npos);
  // What is wrong with a line that is not JSON, and where.
  EXPECT_NE(bad(line + "NaN}}}").find("bad.jsonl:2: unreadable JSON: [json.exception.parse_error"
                                       ".101] parse error at line 1, column"),
            std::string::npos);
}

TEST(Outcomes, ALineNestedDeeperThanAMessageIsRefusedNotCrashedOn) {
  test::TempDir dir;
  // Brackets `levels` deep in the last message, whose DOM is written back out as text.
  const auto nested = [](std::size_t levels) {
    return R"({"messages":[{"role":"user","content":"a","x":)" + std::string(levels, '[') +
           std::string(levels, ']') + R"(}],"outcomes":{"m":{"quality":1}}})";
  };
  const std::string path = dir.write("deep.jsonl", "\n" + nested(100000) + "\n");
  auto deep = load_outcomes(path);
  ASSERT_FALSE(deep);
  EXPECT_EQ(deep.error().message, path + ":2: nested more than 64 levels deep");
  // The line itself, messages and the message are three levels: 61 brackets make 64.
  auto limit = load_outcomes(dir.write("limit.jsonl", nested(61)));
  ASSERT_TRUE(limit) << limit.error().message;
  EXPECT_EQ(limit->records[0].messages, R"([{"content":"a","role":"user","x":)" +
                                            std::string(61, '[') + std::string(61, ']') + "}]");
  EXPECT_FALSE(load_outcomes(dir.write("over.jsonl", nested(62))));
}

TEST(Eval, TheBestSingleModelIsTheCheapestOfEquals) {
  test::TempDir dir;
  // "unknown" records no cost: the shares of its cost would all be undefined.
  const std::string line = R"({"messages":[{"role":"user","content":"q"}],"outcomes":{)"
                           R"("dear":{"quality":1,"cost_usd":0.004},)"
                           R"("free":{"quality":1,"cost_usd":0.001},)"
                           R"("unknown":{"quality":1}}})";
  EvalOptions o;
  o.config = config_with("      - {name: dear}\n      - {name: free}\n      - {name: unknown}\n",
                         static_route("auto", "dear"));
  o.data = dir.write("o.jsonl", line + "\n" + line + "\n");
  o.bootstrap = 10;
  auto r = evaluate(o);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->models.front(), "dear");  // first in the file, and yet not the reference
  EXPECT_EQ(r->best_model, "free");
  EXPECT_DOUBLE_EQ(figure(*r, "route.cost_to_95"), 4.0);  // "dear" costs four times as much
}

TEST(Eval, ARouteThatCallsNoModelTheFileHasIsAnError) {
  test::TempDir dir;
  EvalOptions o;
  o.config = config_with(kThree + "      - {name: other}\n", static_route("auto", "other"));
  o.data = dir.write("o.jsonl", four_prompts());
  o.bootstrap = 10;
  auto r = evaluate(o);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("route \"auto\" answered none of the 4 prompts: it has no "
                                   "candidate among the models considered"),
            std::string::npos)
      << r.error().message;
  o.config = config_with(kThree + "      - {name: other}\n", static_route("auto", "other, mid"));
  r = evaluate(o);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->unanswered, 0u);  // "mid" answers what "other" cannot
  EXPECT_EQ(r->configured.quality, 0.75);
}

TEST(Eval, CrossValidationKeepsARepeatedPromptInOneFold) {
  // 30 prompts, of which "q0" to "q4" are asked three times each.
  std::vector<OutcomeRecord> records(30);
  for (std::size_t i = 0; i < records.size(); ++i)
    records[i].messages = "q" + std::to_string(i < 15 ? i % 5 : i);
  std::vector<const OutcomeRecord*> prompts;
  prompts.reserve(records.size());
  for (const auto& r : records) prompts.push_back(&r);
  for (std::uint64_t seed : {1, 2, 3}) {
    const auto folds = cv_folds(prompts, 4, seed);
    ASSERT_EQ(folds.size(), 4u);
    std::vector<int> fold_of(records.size(), -1);
    for (std::size_t k = 0; k < folds.size(); ++k) {
      EXPECT_GE(folds[k].size(), 5u);  // 20 groups dealt in turn: 5 each, 5 to 11 prompts
      for (std::size_t i : folds[k]) {
        EXPECT_EQ(fold_of[i], -1) << i << " in two folds";
        fold_of[i] = static_cast<int>(k);
      }
    }
    for (std::size_t i = 0; i < records.size(); ++i) {
      ASSERT_NE(fold_of[i], -1) << i << " in no fold";
      if (i < 15) {
        EXPECT_EQ(fold_of[i], fold_of[i % 5]) << records[i].messages;
      }
    }
  }
  // The shuffle depends on the seed.
  EXPECT_NE(cv_folds(prompts, 4, 1), cv_folds(prompts, 4, 2));
}

}  // namespace
}  // namespace switchyard::offline

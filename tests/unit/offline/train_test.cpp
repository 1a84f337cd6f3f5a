// switchyard train and the learned stage: a synthetic file where the right routing is known,
// and model files that must be refused.
#include "api/prompt.hpp"
#include "api/request.hpp"
#include "offline/eval.hpp"
#include "offline/train.hpp"
#include "router/resolve.hpp"
#include "router/snapshot.hpp"
#include "support/fakes.hpp"
#include "support/fixture.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <random>
#include <sstream>

namespace switchyard::offline {
namespace {

// 300 prompts: "proof" prompts only "big" answers right; "chat" prompts both do. "big" costs
// ten times what "small" does.
std::string synthetic() {
  std::string out;
  const char* proof[] = {"prove the theorem about primes", "show the integral converges",
                         "derive the bound for this lemma"};
  const char* chat[] = {"say hello to my friend", "what a lovely day today",
                        "tell me a short joke"};
  for (int i = 0; i < 300; ++i) {
    const bool hard = i % 2 == 0;
    const std::string text = std::string(hard ? proof[i % 3] : chat[i % 3]) + " number " +
                             std::to_string(i);
    nlohmann::json line = {
        {"id", std::to_string(i)},
        {"split", i < 240 ? "train" : "test"},
        {"messages", {{{"role", "user"}, {"content", text}}}},
        {"outcomes",
         {{"small", {{"quality", hard ? 0 : 1}, {"cost_usd", 0.001}, {"output_tokens", 10}}},
          {"big", {{"quality", 1}, {"cost_usd", 0.01}, {"output_tokens", 40}}}}}};
    out += line.dump() + "\n";
  }
  return out;
}

std::vector<const OutcomeRecord*> all(const OutcomeFile& f) {
  std::vector<const OutcomeRecord*> out;
  for (const auto& r : f.records) out.push_back(&r);
  return out;
}

std::string config(const std::string& model_path, const std::string& knob) {
  return "upstreams:\n  - name: recorded\n    base_url: http://127.0.0.1:9/v1\n"
         "    models: [{name: small}, {name: big}]\n"
         "routes:\n  auto:\n    stages:\n      - {type: learned, model: " +
         model_path + ", models: [small, big], " + knob + "}\n    dispatcher: {type: single}\n";
}

// A chat request to the route auto whose one user message is `text`.
ApiRequest asking(const std::string& text) {
  auto req = parse_api_request(Endpoint::chat_completions,
                               R"({"model":"auto","messages":[{"role":"user","content":")" + text +
                                   R"("}]})");
  EXPECT_TRUE(req);
  return std::move(*req);
}

// eval's options for the route of `yaml` on the test split of `data`, at cost_weights `grid`;
// with `train`, its learned stages and gates trained first on the train split of `data`.
EvalOptions eval_options(const std::string& yaml, const std::string& data,
                         std::vector<double> grid, bool train = false) {
  auto loaded = parse_config(yaml, "c.yaml");
  EXPECT_TRUE(loaded.config) << loaded.error;
  EvalOptions o;
  if (loaded.config) o.config = std::move(*loaded.config);
  o.data = data;
  o.split = "test";
  if (train) std::tie(o.train_data, o.train_split) = std::pair(data, "train");
  o.bootstrap = 20;
  o.grid = std::move(grid);
  return o;
}

// Trains with `options` on the synthetic file, and routes unseen prompts through a config that
// loads the saved model. Returns the model as loaded from its file.
std::shared_ptr<const LearnedModel> learns_which_prompts_need_the_big_model(
    const TrainOptions& options) {
  test::TempDir dir;
  auto file = load_outcomes(dir.write("s.jsonl", synthetic()), "train");
  EXPECT_TRUE(file) << file.error().message;
  if (!file) return nullptr;
  auto model = train_router(*file, all(*file), options, "synthetic");
  EXPECT_TRUE(model) << model.error().message;
  if (!model) return nullptr;
  EXPECT_EQ(model->models[model->strongest], "big");
  EXPECT_NEAR(model->reference_cost, 0.01, 1e-12);
  const auto path = (dir.path() / "m.swr").string();
  EXPECT_TRUE(model->save(path));
  auto loaded = LearnedModel::load(path);
  EXPECT_TRUE(loaded);
  if (!loaded) return nullptr;

  Metrics metrics;
  auto snap = test::snapshot_from_yaml(metrics, config(path, "cost_weight: 0.3"));
  EXPECT_TRUE(snap);
  if (!snap) return nullptr;
  test::FakeUpstreams ups;
  auto first = [&](const std::string& text) {
    ApiRequest req = asking(text);
    RouteContext ctx(*snap, req, ups);
    EXPECT_TRUE(resolve(ctx));
    EXPECT_EQ(ctx.candidates.size(), 2u);
    EXPECT_EQ(ctx.decision.predictions.size(), 2u);
    // The stage predicts what the model file does, in the file's feature space.
    std::vector<Feature> x;
    hashed_features(req.prompt, prompt_features(req.prompt), (*loaded)->space, x);
    std::vector<double> quality(2), tokens(2);
    (*loaded)->predict(x, quality, tokens);
    for (const auto& p : ctx.decision.predictions) {
      const int m = (*loaded)->model_index(p.target->model->name);
      EXPECT_NEAR(p.quality, quality[static_cast<std::size_t>(m)], 1e-9);
    }
    return ctx.candidates.front()->model->name;
  };
  // Unseen prompts of each kind.
  EXPECT_EQ(first("prove this theorem about the integral"), "big");
  EXPECT_EQ(first("tell me a joke about a lovely friend"), "small");
  return *loaded;
}

TEST(Train, LearnsWhichPromptsNeedTheBigModel) {
  auto model = learns_which_prompts_need_the_big_model(TrainOptions{});
  ASSERT_TRUE(model);
  EXPECT_EQ(model->space.char_ngrams, 0u);
}

TEST(Train, CharacterNgramsAreLearnedAndKeptInTheModelFile) {
  TrainOptions o;
  o.space.char_ngrams = 4;
  auto model = learns_which_prompts_need_the_big_model(o);
  ASSERT_TRUE(model);
  EXPECT_EQ(model->space.char_ngrams, 4u);
  // The n-grams were trained: a training prompt's n-grams that are not also its words carry
  // weight in the quality head.
  PromptInfo p;
  p.text = "derive the bound for this lemma";
  std::vector<Feature> words, all;
  hashed_features(p, prompt_features(p), {.hash_bits = model->space.hash_bits}, words);
  hashed_features(p, prompt_features(p), model->space, all);
  double weight = 0;
  for (const auto& f : all) {
    auto same = [&](const Feature& w) { return w.index == f.index; };
    if (std::none_of(words.begin(), words.end(), same))
      for (std::size_t m = 0; m < 2; ++m)
        weight += std::abs(model->weights[model->at(f.index, 0, m)]);
  }
  EXPECT_GT(weight, 0.1);
}

// Evaluates the learned route of `o` (at cost_weights 0, 0.3 and 3, trained on the train split)
// on the test split of the synthetic file, then with --cv over all of it.
void eval_sends_proofs_to_big(EvalOptions o) {
  auto r = evaluate(o);
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_TRUE(r->swept);
  // At 0.3 it sends proofs to big and chat to small: full quality at about 55% of big's cost.
  EXPECT_EQ(r->curve[1].quality, 1.0);
  EXPECT_NEAR(r->curve[1].cost, 0.0055, 1e-9);
  // With --cv the same file trains and evaluates in folds.
  o.train_data.clear();
  o.split.clear();
  o.cv = 3;
  auto cv = evaluate(o);
  ASSERT_TRUE(cv) << cv.error().message;
  EXPECT_EQ(cv->prompts, 300u);
  EXPECT_EQ(cv->curve[1].quality, 1.0);
}

TEST(Train, EvalOfTheLearnedRouteBeatsBothSingleModels) {
  test::TempDir dir;
  const auto data = dir.write("s.jsonl", synthetic());
  eval_sends_proofs_to_big(
      eval_options(config("unused.swr", "cost_weight: 0.3"), data, {0, 0.3, 3}, true));
}

// A file whose models have other names than the config's, and a third model answered on a
// few prompts, all right and nearly free.
std::string renamed_with_a_lucky_model() {
  std::string out;
  std::istringstream in(synthetic());
  int i = 0;
  for (std::string line; std::getline(in, line); ++i) {
    auto j = nlohmann::json::parse(line);
    auto& o = j["outcomes"];
    o["vendor/small"] = o["small"];
    o["vendor/big"] = o["big"];
    o.erase("small");
    o.erase("big");
    if (i % 100 == 0) o["lucky"] = {{"quality", 1}, {"cost_usd", 1e-6}, {"output_tokens", 1}};
    out += j.dump() + "\n";
  }
  return out;
}

TEST(Train, AModelSeenOnAFewPromptsIsNotTheStrongest) {
  test::TempDir dir;
  auto file = load_outcomes(dir.write("r.jsonl", renamed_with_a_lucky_model()), "train");
  ASSERT_TRUE(file) << file.error().message;
  auto model = train_router(*file, all(*file), TrainOptions{}, "renamed");
  ASSERT_TRUE(model) << model.error().message;
  EXPECT_EQ(model->mean_quality[static_cast<std::size_t>(model->model_index("lucky"))], 1.0);
  EXPECT_EQ(model->models[model->strongest], "vendor/big");
  EXPECT_NEAR(model->reference_cost, 0.01, 1e-12);
}

// 1,000 prompts of eight words drawn from 200, whose outcomes are coin flips: nothing in a prompt
// says how a model will do on it.
std::string coin_flips() {
  std::mt19937 rng(11);
  std::string out;
  for (int i = 0; i < 1000; ++i) {
    std::string text;
    for (int w = 0; w < 8; ++w) text += "w" + std::to_string(rng() % 200) + " ";
    nlohmann::json line = {
        {"id", std::to_string(i)},
        {"messages", {{{"role", "user"}, {"content", text}}}},
        {"outcomes",
         {{"a", {{"quality", rng() % 2}, {"cost_usd", 0.001}, {"output_tokens", 10}}},
          {"b", {{"quality", rng() % 2}, {"cost_usd", 0.002}, {"output_tokens", 10}}}}}};
    out += line.dump() + "\n";
  }
  return out;
}

TEST(Train, WhereThePromptSaysNothingThePredictionsStayNearEachModelsMean) {
  test::TempDir dir;
  auto file = load_outcomes(dir.write("c.jsonl", coin_flips()), "");
  ASSERT_TRUE(file) << file.error().message;
  auto model = train_router(*file, all(*file), TrainOptions{}, "coins");
  ASSERT_TRUE(model) << model.error().message;
  // On the prompts it was trained on, the words learn the flips: fitted alone, the predictions
  // stray 0.054 from the means on average. The held-back prompts show that the words predict
  // nothing there, and the router keeps little or none of what they learned.
  double spread = 0;
  std::vector<double> quality(2), tokens(2);
  for (const auto& r : file->records) {
    PromptInfo p = read_prompt(Endpoint::chat_completions, R"({"messages":)" + r.messages + "}");
    std::vector<Feature> x;
    hashed_features(p, prompt_features(p), model->space, x);
    model->predict(x, quality, tokens);
    for (std::size_t m = 0; m < 2; ++m) spread += std::fabs(quality[m] - model->mean_quality[m]);
  }
  EXPECT_LT(spread / (2.0 * static_cast<double>(file->records.size())), 0.02);
}

TEST(Train, AFileWithoutOutcomesIsRefused) {
  test::TempDir dir;
  std::string lines;
  for (int i = 0; i < 12; ++i)
    lines += R"({"messages":[{"role":"user","content":"a"}],"outcomes":{}})" "\n";
  auto file = load_outcomes(dir.write("e.jsonl", lines));
  ASSERT_TRUE(file) << file.error().message;
  auto model = train_router(*file, all(*file), TrainOptions{}, "empty");
  ASSERT_FALSE(model);
  EXPECT_EQ(model.error().message, "no model has an outcome to train on");
}

TEST(Train, EvalTrainsTheConfiguredModelsUnderTheirAliases) {
  test::TempDir dir;
  const auto data = dir.write("r.jsonl", renamed_with_a_lucky_model());
  EvalOptions o = eval_options(config("unused.swr", "cost_weight: 0.3"), data, {0, 0.3, 3}, true);
  o.aliases = {{"vendor/small", "small"}, {"vendor/big", "big"}};
  // The router learns small and big under the config's names.
  eval_sends_proofs_to_big(o);
  // Aliases that swap two names: each model keeps its own answers under the other's name.
  o.data = dir.write("s.jsonl", synthetic());
  o.train_data = o.data;
  o.aliases = {{"small", "big"}, {"big", "small"}};
  eval_sends_proofs_to_big(o);
  o.aliases = {{"small", "big"}};  // two models called big
  auto twice = evaluate(o);
  ASSERT_FALSE(twice);
  EXPECT_EQ(twice.error().message, "--alias: two of the file's models would be called big");
  o.aliases = {{"vendor/small", "small"}, {"vendor/big", "big"}};
  o.data = data;
  // A configured model the training file lacks is named.
  std::string without_big = synthetic();
  for (auto at = without_big.find("\"big\":"); at != std::string::npos;
       at = without_big.find("\"big\":", at))
    without_big.replace(at, 6, "\"huge\":");
  o.cv = 0;
  o.split = "test";
  std::tie(o.train_data, o.train_split) = std::pair(dir.write("s.jsonl", without_big), "train");
  auto missing = evaluate(o);
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("\"big\" is not in the trained model (trained by eval "
                                         "on " + o.train_data + ":train)"),
            std::string::npos)
      << missing.error().message;
}

TEST(Train, EvalWithoutAConfigRoutesEveryModelOfTheFileByALearnedStage) {
  test::TempDir dir;
  // Any model name, YAML's special characters included.
  std::string data = synthetic();
  for (auto at = data.find("\"big\":"); at != std::string::npos; at = data.find("\"big\":", at))
    data.replace(at, 6, R"("big: {x}":)");
  const auto path = dir.write("s.jsonl", data);
  const auto eval = [](std::vector<std::string> args) {
    std::vector<char*> argv;
    argv.reserve(args.size());
    for (auto& a : args) argv.push_back(a.data());
    return eval_main(static_cast<int>(argv.size()), argv.data());
  };
  testing::internal::CaptureStdout();
  const int rc =
      eval({"--data", path, "--cv", "3", "--grid", "0,0.3,3", "--bootstrap", "10", "--json"});
  const auto out = testing::internal::GetCapturedStdout();
  ASSERT_EQ(rc, 0) << out;
  const auto report = nlohmann::json::parse(out);
  EXPECT_EQ(report["route"], "auto");
  EXPECT_EQ(report["models"], nlohmann::json({"big: {x}", "small"}));  // in the file's order
  // Each model costs what the file records for it: at 0.3, proofs to big and chat to small.
  EXPECT_EQ(report["curve"][1]["quality"], 1.0);
  EXPECT_NEAR(report["curve"][1]["cost"].get<double>(), 0.0055, 1e-9);

  // A model answered on a few prompts is left out of the route, not most of the prompts.
  const auto lucky = dir.write("r.jsonl", renamed_with_a_lucky_model());
  testing::internal::CaptureStdout();
  testing::internal::CaptureStderr();
  EXPECT_EQ(eval({"--data", lucky, "--cv", "3", "--grid", "0", "--bootstrap", "0", "--json"}), 0);
  const auto without_lucky = nlohmann::json::parse(testing::internal::GetCapturedStdout());
  EXPECT_NE(testing::internal::GetCapturedStderr().find("lucky is left out of the route: it "
                                                        "answered 3 of 300 prompts"),
            std::string::npos);
  EXPECT_EQ(without_lucky["models"], nlohmann::json({"vendor/big", "vendor/small"}));
  EXPECT_EQ(without_lucky["prompts"], 300);

  testing::internal::CaptureStderr();
  EXPECT_EQ(eval({"--data", path}), 2);  // nothing to train the route on
  EXPECT_NE(testing::internal::GetCapturedStderr().find("--config unless --train or --cv"),
            std::string::npos);
}

TEST(Train, TargetsBecomeCostWeightsByCalibration) {
  LearnedModel m;
  m.calibration = {{0, 1.0, 1.0}, {0.1, 0.6, 0.7}, {1, 0.2, 0.3}, {10, 0, 0.1}};
  EXPECT_DOUBLE_EQ(m.weight_for_strongest_share(1.0), 0);
  EXPECT_DOUBLE_EQ(m.weight_for_strongest_share(0.4), 0.55);  // halfway from 0.1 to 1
  EXPECT_DOUBLE_EQ(m.weight_for_cost_share(0.05), 10);        // unreachable: the largest
}

// A cascade whose first tier is small alone, taken when the learned stage expects small to be
// right (the `predicted` gate at `cost_weight`), then `second`, then big. The route's models are
// small, mid (the same answer as small's) and big; the learned stage knows small and big.
std::string predicted_cascade(const std::string& model_path, const std::string& second) {
  return "upstreams:\n  - name: recorded\n    base_url: http://127.0.0.1:9/v1\n"
         "    models: [{name: small, id: say=B}, {name: mid, id: say=B}, {name: big, id: say=C}]\n"
         "routes:\n  auto:\n    stages:\n"
         "      - {type: static, models: [small, mid, big]}\n"
         "      - {type: learned, model: " + model_path +
         ", models: [small, big], cost_weight: 0.3}\n"
         "    dispatcher:\n      type: cascade\n      tiers:\n"
         "        - {models: [small], gates: {predicted: {cost_weight: 0.3}}}\n" + second +
         "        - {models: [big]}\n";
}

TEST(PredictedGate, TakesTheCheapAnswerAloneWhereTheLearnedStageExpectsItRight) {
  test::TempDir dir;
  auto file = load_outcomes(dir.write("s.jsonl", synthetic()), "train");
  ASSERT_TRUE(file) << file.error().message;
  auto model = train_router(*file, all(*file), TrainOptions{}, "synthetic");
  ASSERT_TRUE(model) << model.error().message;
  const auto path = (dir.path() / "m.swr").string();
  ASSERT_TRUE(model->save(path));
  Metrics metrics;
  const char* agree = "        - {models: [small, mid], gates: {agreement: {min_share: 1}}}\n";
  auto snap = test::snapshot_from_yaml(metrics, predicted_cascade(path, agree));
  ASSERT_TRUE(snap);
  test::FakeUpstreams ups;
  auto ask = [&](const std::string& text) {
    return test::dispatch_request(*snap, ups, asking(text));
  };
  // small is expected to be right: its answer alone.
  auto chat = ask("tell me a joke about a lovely friend");
  ASSERT_TRUE(chat.result);
  EXPECT_EQ(chat.called, (std::vector<std::string>{"small"}));
  // Not here: mid answers too, small's answer is compared with it and not asked for again, and
  // the two agree.
  auto proof = ask("prove this theorem about the integral");
  ASSERT_TRUE(proof.result);
  EXPECT_EQ(proof.called, (std::vector<std::string>{"small", "mid"}));
  EXPECT_EQ(proof.out.headers["x-switchyard-model"], "small");
  EXPECT_EQ(proof.out.headers["x-switchyard-escalations"].find("small: predicted (predicted "
                                                               "quality 0."),
            0u)
      << proof.out.headers["x-switchyard-escalations"];
}

TEST(PredictedGate, EvalSweepsItsCostWeight) {
  // On the synthetic test split (half proofs, which only big answers right): at 0 no answer is
  // certain enough, at 0.3 the chat answers are, and at 2 every answer is.
  test::TempDir dir;
  const auto data = dir.write("s.jsonl", synthetic());
  auto r = evaluate(eval_options(predicted_cascade("unused.swr", ""), data, {0, 0.3, 2}, true));
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_TRUE(r->swept);
  EXPECT_EQ(r->curve[0].quality, 1.0);
  EXPECT_NEAR(r->curve[0].cost, 0.011, 1e-9);  // small, then big, every time
  EXPECT_EQ(r->curve[1].quality, 1.0);
  EXPECT_NEAR(r->curve[1].cost, (0.001 + 0.011) / 2, 1e-9);
  EXPECT_EQ(r->curve[2].quality, 0.5);
  EXPECT_NEAR(r->curve[2].cost, 0.001, 1e-9);
}

TEST(LearnedModelFile, WrongVersionAndTruncatedFilesAreRefusedWithThePath) {
  test::TempDir dir;
  auto file = load_outcomes(dir.write("s.jsonl", synthetic()), "train");
  ASSERT_TRUE(file);
  TrainOptions small;
  small.space.hash_bits = 8;
  small.epochs = 1;
  auto model = train_router(*file, all(*file), small, "synthetic");
  ASSERT_TRUE(model);
  const auto path = (dir.path() / "m.swr").string();
  ASSERT_TRUE(model->save(path));
  ASSERT_TRUE(LearnedModel::load(path));
  std::string bytes;
  {
    std::ifstream in(path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  auto write = [&](const std::string& name, const std::string& b) { return dir.write(name, b); };
  std::string v2 = bytes;
  v2[8] = 2;  // the version, little-endian
  auto refused = [&](const std::string& p) {
    auto r = LearnedModel::load(p);
    return r ? std::string("loaded") : r.error().message;
  };
  EXPECT_EQ(refused(write("v2.swr", v2)),
            dir.path().string() + "/v2.swr: router model format version 2; this build reads 1 "
                                  "(retrain it with switchyard train)");
  EXPECT_EQ(refused(write("cut.swr", bytes.substr(0, bytes.size() - 5))),
            dir.path().string() + "/cut.swr: truncated router model");
  EXPECT_EQ(refused(write("text.swr", "hello")),
            dir.path().string() + "/text.swr: not a switchyard router model (switchyard train writes them)");
  // A damaged weight (the file's last float): not a number, or far beyond any trained one.
  const auto damaged = [&](const std::string& name, float w) {
    std::string b = bytes;
    std::memcpy(b.data() + b.size() - sizeof w, &w, sizeof w);
    return refused(write(name, b));
  };
  const std::string weight_error =
      ": router model has a weight that is not a number below 1e6 in size";
  EXPECT_EQ(damaged("nan.swr", std::numeric_limits<float>::quiet_NaN()),
            dir.path().string() + "/nan.swr" + weight_error);
  EXPECT_EQ(damaged("big.swr", -2e6f), dir.path().string() + "/big.swr" + weight_error);
  EXPECT_EQ(damaged("fine.swr", 3.0f), "loaded");
  // Counts written as floats: 4294967296.0 would convert (out of range) to a model index.
  const auto with_meta = [&](const std::string& name, const std::string& key,
                             const nlohmann::json& v) {
    std::uint64_t size = 0;
    std::memcpy(&size, bytes.data() + 12, sizeof size);
    nlohmann::json meta = nlohmann::json::parse(bytes.substr(20, size));
    meta[key] = v;
    const std::string text = meta.dump();
    const std::uint64_t new_size = text.size();
    std::string b = bytes.substr(0, 12);
    b.append(reinterpret_cast<const char*>(&new_size), sizeof new_size);
    b += text + bytes.substr(20 + size);
    return refused(write(name, b));
  };
  ASSERT_EQ(with_meta("same.swr", "strongest", 0), "loaded");  // the rewrite itself is sound
  EXPECT_EQ(with_meta("float.swr", "strongest", 4294967296.0),
            dir.path().string() + "/float.swr: router model metadata is inconsistent");
  EXPECT_EQ(with_meta("bits.swr", "hash_bits", 1e30),
            dir.path().string() + "/bits.swr: router model metadata is inconsistent");
  // A config naming a bad file is a config error that names the stage's key and the file.
  Metrics metrics;
  auto loaded = parse_config(config(dir.path().string() + "/cut.swr", "cost_weight: 1"), "c.yaml");
  ASSERT_TRUE(loaded.config);
  auto built = build_snapshot(std::move(*loaded.config), metrics);
  EXPECT_EQ(built.error, "routes.auto.stages[0].model: " + dir.path().string() +
                             "/cut.swr: truncated router model");
}

// 300 prompts that all read alike; "small" is right (quality 1) only where "check" answers as it
// does, which only the tier's agreement shows when `by_agreement`, else where small's own answer
// does not hedge, which only its words show. "big" is always right, at ten times the cost.
std::string hedged(bool by_agreement) {
  std::string out;
  for (int i = 0; i < 300; ++i) {
    const bool wrong = i % 3 == 0;
    std::string small = by_agreement || !wrong ? "B" : "I am not sure, perhaps C";
    nlohmann::json line = {
        {"id", std::to_string(i)},
        {"split", i < 240 ? "train" : "test"},
        {"messages",
         {{{"role", "user"}, {"content", "which option fits case " + std::to_string(i)}}}},
        {"outcomes",
         {{"small", {{"quality", wrong ? 0 : 1}, {"cost_usd", 0.001}, {"response", small}}},
          {"check", {{"quality", 0}, {"cost_usd", 0}, {"response", wrong ? "D" : "B"}}},
          {"big", {{"quality", 1}, {"cost_usd", 0.01}, {"response", "B"}}}}}};
    out += line.dump() + "\n";
  }
  return out;
}

// A cascade of `tier` guarded by a learned gate that reads `model_path`, else big.
std::string gated(const std::string& model_path, const std::string& tier) {
  return "upstreams:\n  - name: recorded\n    base_url: http://127.0.0.1:9/v1\n"
         "    models: [{name: small}, {name: check}, {name: big}]\n"
         "routes:\n  auto:\n    stages: [{type: static, models: [small, check, big]}]\n"
         "    dispatcher:\n      type: cascade\n      tiers:\n"
         "        - {models: [" + tier + "], gates: {learned: {model: " + model_path +
         ", cost_weight: 0.3}}}\n"
         "        - {models: [big]}\n";
}

// eval's options for gated(model_path, tier) on the test split of `data`, at cost_weights `grid`.
EvalOptions gated_eval(const std::string& model_path, const std::string& tier,
                       const std::string& data, std::vector<double> grid) {
  return eval_options(gated(model_path, tier), data, std::move(grid));
}

// Trains an escalation model on the train split of `data`, then sweeps the gate on its test
// split: 60 prompts, 20 of them (i % 3 == 0) answered wrong by small.
void escalates_exactly_the_wrong_answers(bool by_agreement, const std::string& from,
                                         const std::string& tier) {
  test::TempDir dir;
  const auto data = dir.write("h.jsonl", hedged(by_agreement));
  auto file = load_outcomes(data, "train");
  ASSERT_TRUE(file) << file.error().message;
  std::vector<std::string> from_models{"small"};
  if (from != "small") from_models.push_back("check");
  auto model = train_escalation(*file, all(*file), {from_models, "big"}, TrainOptions{}, "h");
  ASSERT_TRUE(model) << model.error().message;
  const auto path = (dir.path() / "esc.swr").string();
  ASSERT_TRUE(model->save(path));
  auto r = evaluate(gated_eval(path, tier, data, {0.3, 3}));
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_TRUE(r->swept);  // the gate's cost_weight, inside the dispatcher, is the route's knob
  ASSERT_EQ(r->prompts, 60u);
  const double wrong = 20.0 / 60;  // i = 240, 243, ..., 297
  const double tier_cost = 0.001;  // check costs nothing
  // At 0.3 every wrong answer, and only those, goes on to big: all right, each paid twice.
  EXPECT_EQ(r->curve[0].quality, 1.0);
  EXPECT_NEAR(r->curve[0].cost, tier_cost + wrong * 0.01, 1e-9);
  // At 3 no gain is worth it: the tier's answers go out.
  EXPECT_NEAR(r->curve[1].quality, 1 - wrong, 1e-9);
  EXPECT_NEAR(r->curve[1].cost, tier_cost, 1e-9);
}

TEST(LearnedGate, EscalatesTheAnswersItsWordsShowAreWrong) {
  escalates_exactly_the_wrong_answers(false, "small", "small");
}

TEST(LearnedGate, ReadsTheTiersAgreement) {
  // Trained on small and check, the gate makes its tier ask both though it has no agreement gate.
  escalates_exactly_the_wrong_answers(true, "small,check", "small, check");
}

TEST(LearnedGate, EvalTrainsTheGateAgainWithTrainAndInEachFoldWithCv) {
  // The configured gate was trained where small was never wrong: it escalates nothing. Trained
  // again on the real train split (--train), or on the other folds of the test split (--cv), it
  // escalates the wrong answers, for the same small → big.
  test::TempDir dir;
  const auto data = dir.write("h.jsonl", hedged(false));
  std::string never_wrong;
  std::istringstream lines(hedged(false));
  for (std::string line; std::getline(lines, line);) {
    auto j = nlohmann::json::parse(line);
    j["outcomes"]["small"]["quality"] = 1;
    never_wrong += j.dump() + "\n";
  }
  auto easy = load_outcomes(dir.write("easy.jsonl", never_wrong), "train");
  ASSERT_TRUE(easy) << easy.error().message;
  auto model = train_escalation(*easy, all(*easy), {{"small"}, "big"}, TrainOptions{}, "easy");
  ASSERT_TRUE(model) << model.error().message;
  const auto path = (dir.path() / "never.swr").string();
  ASSERT_TRUE(model->save(path));
  const auto quality_at_03 = [&](const std::string& train, std::uint32_t cv) {
    EvalOptions o = gated_eval(path, "small", data, {0.3});
    o.cv = cv;
    if (!train.empty()) std::tie(o.train_data, o.train_split) = std::pair(train, "train");
    auto r = evaluate(o);
    EXPECT_TRUE(r) << r.error().message;
    return r ? r->curve[0].quality : -1;
  };
  const double wrong = 20.0 / 60;
  EXPECT_NEAR(quality_at_03("", 0), 1 - wrong, 1e-9);  // as configured: never escalates
  EXPECT_EQ(quality_at_03(data, 0), 1.0);               // --train: every wrong answer escalates
  EXPECT_GT(quality_at_03("", 3), 1 - wrong + 0.1);     // --cv 3: most of them
}

TEST(LearnedGate, ModelFilesOfTheOtherKindAreRefused) {
  test::TempDir dir;
  auto file = load_outcomes(dir.write("h.jsonl", hedged(false)), "train");
  ASSERT_TRUE(file);
  TrainOptions small;
  small.space.hash_bits = 8;
  small.epochs = 1;
  auto router = train_router(*file, all(*file), small, "h");
  auto gate = train_escalation(*file, all(*file), {{"small"}, "big"}, small, "h");
  ASSERT_TRUE(router && gate);
  const auto router_path = (dir.path() / "r.swr").string();
  const auto gate_path = (dir.path() / "g.swr").string();
  ASSERT_TRUE(router->save(router_path) && gate->save(gate_path));
  auto loaded = LearnedModel::load(gate_path);
  ASSERT_TRUE(loaded);
  ASSERT_TRUE((*loaded)->escalation);
  EXPECT_EQ((*loaded)->escalation->from, std::vector<std::string>{"small"});
  EXPECT_EQ((*loaded)->escalation->to, "big");
  auto error = [](const std::string& yaml) {
    Metrics metrics;
    auto c = parse_config(yaml, "c.yaml");
    if (!c.config) return c.error;
    return build_snapshot(std::move(*c.config), metrics).error;
  };
  EXPECT_EQ(error(gated(router_path, "small")),
            "routes.auto.dispatcher.tiers[0].gates.learned.model: " + router_path +
                " is a router model (switchyard train --escalate writes one for this gate)");
  std::string stage = config(gate_path, "cost_weight: 1");
  EXPECT_EQ(error(stage), "routes.auto.stages[0].model: " + gate_path +
                              " is an escalation model, for a cascade's learned gate");
  auto missing = train_escalation(*file, all(*file), {{"small", "tiny"}, "big"}, small, "h");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().message, "model tiny is not in the file");
}

}  // namespace
}  // namespace switchyard::offline

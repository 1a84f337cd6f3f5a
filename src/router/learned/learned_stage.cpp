// `learned`: predicts, for each of its models, the quality of its answer to this prompt and what
// the call will cost, from a model file that `switchyard train` wrote, and orders the candidates
// by quality − cost_weight × cost / reference cost (the strongest trained model's mean cost),
// best first; the rest stay as fallbacks. First in the chain, its models are the candidates;
// after a stage that chose some (a classifier's tier), it predicts those of them it has, and
// the others stay behind them in their order. The predictions and scores go into the decision
// (RouteContext::decision), where a cascade's `predicted` gate reads them.
//
//   stages:
//     - type: learned
//       model: models/routerbench.swr   # loaded with the config, and again on every reload
//       models: [gpt-4o, gpt-4o-mini]
//       aliases: {gpt-4o: gpt-4-1106-preview, gpt-4o-mini: mixtral-8x7b-chat}  # borrowed
//       cost_weight: 0.2                # or: target: {strongest_share: 0.2} | {cost_share: 0.3}
//
// A model is predicted as the trained model it is named after, or as its alias. Its cost is
// its configured price applied to the prompt's estimated tokens and the predicted output
// tokens; a model priced at 0 costs its trained mean. A `target` is turned into a cost_weight
// with the calibration `train` stored in the file (measured on held-back prompts).
#include "router/learned/learned_stage.hpp"

#include "config/yaml_map.hpp"
#include "router/learned/model.hpp"

#include <algorithm>
#include <numeric>

namespace switchyard {

namespace {

struct Candidate {
  const Target* target = nullptr;
  std::uint32_t model = 0;  // index in the trained model
};

class LearnedStage final : public RouterStage {
 public:
  LearnedStage(std::shared_ptr<const LearnedModel> model, std::vector<Candidate> candidates,
               double cost_weight)
      : model_(std::move(model)), candidates_(std::move(candidates)), cost_weight_(cost_weight) {}

  Result<void> apply(RouteContext& ctx) const override {
    thread_local std::vector<Feature> x;
    const PromptInfo& prompt = ctx.request.prompt;
    const PromptFeatures f = prompt_features(prompt);
    hashed_features(prompt, f, model_->space, x);
    const std::size_t n = model_->models.size();
    double quality[64], tokens[64];
    model_->predict(x, std::span(quality, n), std::span(tokens, n));

    // The earlier stages' choice, if any: those of it this stage does not know come last.
    thread_local std::vector<const Target*> rest;
    rest = ctx.candidates;
    const bool chosen = !rest.empty();
    auto& predictions = ctx.decision.predictions;
    predictions.clear();
    predictions.reserve(candidates_.size());
    for (const auto& c : candidates_) {
      if (chosen) {
        auto it = std::find_if(rest.begin(), rest.end(),
                               [&](const Target* t) { return same_target(*t, *c.target); });
        if (it == rest.end()) continue;
        rest.erase(it);
      }
      const auto& price = c.target->model->price_usd_per_mtok;
      double cost = model_->mean_cost[c.model];
      if (price.input > 0 || price.output > 0)
        cost = (f.tokens * price.input + tokens[c.model] * price.output) / 1e6;
      const double q = quality[c.model];
      predictions.push_back({c.target, q, cost, q - cost_weight_ * cost / model_->reference_cost});
    }
    std::stable_sort(predictions.begin(), predictions.end(),
                     [](const Decision::Prediction& a, const Decision::Prediction& b) {
                       return a.score > b.score || (a.score == b.score && a.cost_usd < b.cost_usd);
                     });
    ctx.candidates.clear();
    for (const auto& p : predictions) ctx.candidates.push_back(p.target);
    if (chosen) ctx.candidates.insert(ctx.candidates.end(), rest.begin(), rest.end());
    return {};
  }

 private:
  std::shared_ptr<const LearnedModel> model_;
  std::vector<Candidate> candidates_;
  double cost_weight_;
};

}  // namespace

Built<RouterStage> make_learned_stage(const StageConfig& sc, BuildContext& ctx) {
  std::shared_ptr<const LearnedModel> model;
  std::vector<Candidate> candidates;
  double cost_weight = 0;
  std::string error;
  bool ok = read_guarded(error, [&] {
    Map m(*sc.node, sc.path);
    std::string type, path;
    std::vector<std::string> models;
    m.req("type", type);
    m.req("model", path);
    m.req("models", models);
    auto loaded = LearnedModel::load(path);
    if (!loaded) fail(m.at("model"), loaded.error().message);
    model = *loaded;
    if (model->escalation)
      fail(m.at("model"), path + " is an escalation model, for a cascade's learned gate");
    if (models.empty()) fail(m.at("models"), "must list at least one model");
    // aliases: configured model → trained model.
    std::vector<std::pair<std::string, std::string>> aliases;
    if (auto a = m.get("aliases"); a && !a.IsNull()) {
      if (!a.IsMap()) fail(m.at("aliases"), "expected a mapping of model to trained model");
      check_keys(a, m.at("aliases"));
      for (const auto& kv : a) {
        std::string from = kv.first.as<std::string>(), to;
        Map::read(kv.second, m.at("aliases") + "." + from, to);
        if (std::find(models.begin(), models.end(), from) == models.end())
          fail(m.at("aliases") + "." + from, "not one of the stage's models");
        aliases.emplace_back(std::move(from), std::move(to));
      }
    }
    for (std::size_t i = 0; i < models.size(); ++i) {
      const std::string path_i = m.at("models") + "[" + std::to_string(i) + "]";
      std::string trained = models[i];
      for (const auto& [from, to] : aliases)
        if (from == models[i]) trained = to;
      const int index = model->model_index(trained);
      if (index < 0) {
        std::string why = "\"" + trained + "\" is not in the trained model ";
        why += path;
        why += " (add an alias to one of its models)";
        fail(path_i, why);
      }
      auto targets = ctx.targets_for(models[i]);
      if (targets.empty())
        fail(path_i, "unknown model \"" + models[i] + "\" (known: " +
                         std::string(ctx.model_list()) + ")");
      for (const auto* t : targets) candidates.push_back({t, static_cast<std::uint32_t>(index)});
    }
    auto weight = m.get("cost_weight");
    auto target = m.get("target");
    if (weight && target) fail(m.at("target"), "give cost_weight or target, not both");
    if (weight) {
      Map::read(weight, m.at("cost_weight"), cost_weight);
    } else if (target) {
      Map t(target, m.at("target"));
      double strongest = -1, cost = -1;
      t.opt("strongest_share", strongest);
      t.opt("cost_share", cost);
      t.finish();
      if ((strongest >= 0) == (cost >= 0))
        fail(m.at("target"), "expected one of strongest_share or cost_share");
      if (strongest > 1 || cost > 1) fail(m.at("target"), "a share is between 0 and 1");
      cost_weight = strongest >= 0 ? model->weight_for_strongest_share(strongest)
                                   : model->weight_for_cost_share(cost);
    } else {
      fail(m.at("cost_weight"), "is required (or a target)");
    }
    m.finish();
  });
  if (!ok) return config_error(std::move(error));
  return std::make_unique<const LearnedStage>(std::move(model), std::move(candidates),
                                              cost_weight);
}

}  // namespace switchyard

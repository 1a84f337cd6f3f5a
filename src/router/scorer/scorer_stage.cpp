// `scorer`: orders the candidates that the stages before it chose (a static list, a classifier's
// tier, a learned router's ranking) by
//
//   utility = quality − cost_weight × cost / reference cost − latency_weight × latency (seconds)
//
// best first; the rest stay as fallbacks. Quality and cost are what an earlier stage predicted
// for the candidate (RouteContext::decision), else the configured prior quality (default 0.5)
// and the configured price applied to the prompt's estimated tokens and `output_tokens`. The
// reference cost is the dearest candidate's, so cost_weight 1 gives up all of a prompt's quality
// to avoid it. Latency is the live running average of the (upstream, model)'s answered calls
// (time to first token for a stream), 0 until it has answered. A request's limits drop the
// candidates expected to break them: x-switchyard-max-cost-usd those whose expected cost is
// higher, x-switchyard-max-latency-ms those whose recent 95th percentile is; when none is left,
// the request fails with a 400 that names the limit.
//
//   stages:
//     - type: static
//       models: [gpt-4o, gpt-4o-mini]
//     - type: scorer
//       cost_weight: 0.5          # optional, default 0
//       latency_weight: 0.02      # optional, default 0: quality given up per second
//       quality: {gpt-4o: 0.9, gpt-4o-mini: 0.75}   # optional priors
//       output_tokens: 256        # optional, default 256
#include "router/scorer/scorer_stage.hpp"

#include "config/yaml_map.hpp"
#include "router/classify/features.hpp"

#include <algorithm>
#include <map>

namespace switchyard {

namespace {

class ScorerStage final : public RouterStage {
 public:
  ScorerStage(double cost_weight, double latency_weight,
              std::map<const ModelConfig*, double> priors, double output_tokens)
      : cost_weight_(cost_weight),
        latency_weight_(latency_weight),
        priors_(std::move(priors)),
        output_tokens_(output_tokens) {}

  Result<void> apply(RouteContext& ctx) const override {
    const ApiRequest& req = ctx.request;
    const double input_tokens = estimated_tokens(req.prompt.chars);
    // What an earlier stage predicted, by target; filled in for the others.
    thread_local std::vector<Decision::Prediction> scored;
    scored.clear();
    for (const Target* t : ctx.candidates) {
      auto& p = scored.emplace_back();
      p.target = t;
      if (auto it = std::find_if(ctx.decision.predictions.begin(), ctx.decision.predictions.end(),
                                 [&](const auto& q) { return q.target == t; });
          it != ctx.decision.predictions.end()) {
        p.quality = it->quality;
        p.cost_usd = it->cost_usd;
        continue;
      }
      auto prior = priors_.find(t->model);
      p.quality = prior == priors_.end() ? 0.5 : prior->second;
      const auto& price = t->model->price_usd_per_mtok;
      p.cost_usd = (input_tokens * price.input + output_tokens_ * price.output) / 1e6;
    }
    auto latency_s = [&](const Target* t) {
      const auto& s = t->state->stats;
      return std::chrono::duration<double>(req.stream ? s.time_to_first_token() : s.latency())
          .count();
    };
    const SteadyTime now = ctx.clock.now();
    auto p95_ms = [&](const Target* t) {
      const auto& s = t->state->stats;
      return std::chrono::duration<double, std::milli>(
                 req.stream ? s.time_to_first_token_p95(now) : s.latency_p95(now))
          .count();
    };
    // Limits first, then the utility over what is left.
    std::erase_if(scored, [&](const Decision::Prediction& p) {
      return (req.max_cost_usd && p.cost_usd > *req.max_cost_usd) ||
             (req.max_latency_ms && p95_ms(p.target) > *req.max_latency_ms);
    });
    if (scored.empty())
      return make_error(Reason::bad_request,
                        req.max_cost_usd && req.max_latency_ms
                            ? "No model of this route is expected to meet both "
                              "x-switchyard-max-cost-usd and x-switchyard-max-latency-ms."
                        : req.max_cost_usd
                            ? "No model of this route is expected to cost at most "
                              "x-switchyard-max-cost-usd."
                            : "No model of this route is expected to answer within "
                              "x-switchyard-max-latency-ms.");
    double reference = 0;
    for (const auto& p : scored) reference = std::max(reference, p.cost_usd);
    for (auto& p : scored)
      p.score = p.quality - (reference > 0 ? cost_weight_ * p.cost_usd / reference : 0) -
                latency_weight_ * latency_s(p.target);
    std::stable_sort(scored.begin(), scored.end(),
                     [](const Decision::Prediction& a, const Decision::Prediction& b) {
                       return a.score > b.score;
                     });
    ctx.candidates.clear();
    for (const auto& p : scored) ctx.candidates.push_back(p.target);
    ctx.decision.predictions.assign(scored.begin(), scored.end());
    return {};
  }

 private:
  double cost_weight_, latency_weight_;
  std::map<const ModelConfig*, double> priors_;
  double output_tokens_;
};

}  // namespace

Built<RouterStage> make_scorer_stage(const StageConfig& sc, BuildContext& ctx) {
  double cost_weight = 0, latency_weight = 0, output_tokens = 256;
  std::map<const ModelConfig*, double> priors;
  std::string error;
  bool ok = read_guarded(error, [&] {
    Map m(*sc.node, sc.path);
    std::string type;
    m.req("type", type);
    m.opt("cost_weight", cost_weight);
    m.opt("latency_weight", latency_weight);
    m.opt("output_tokens", output_tokens);
    if (auto q = m.get("quality"); q && !q.IsNull()) {
      if (!q.IsMap()) fail(m.at("quality"), "expected a mapping of model to quality, 0 to 1");
      check_keys(q, m.at("quality"));
      for (const auto& kv : q) {
        const auto name = kv.first.as<std::string>();
        const auto path = m.at("quality") + "." + name;
        double v = 0;
        Map::read(kv.second, path, v);
        if (v < 0 || v > 1) fail(path, "must be between 0 and 1");
        auto targets = ctx.targets_for(name);
        if (targets.empty())
          fail(path, "unknown model \"" + name + "\" (known: " + std::string(ctx.model_list()) +
                         ")");
        for (const auto* t : targets) priors[t->model] = v;
      }
    }
    m.finish();
  });
  if (!ok) return config_error(std::move(error));
  return std::make_unique<const ScorerStage>(cost_weight, latency_weight, std::move(priors),
                                             output_tokens);
}

}  // namespace switchyard

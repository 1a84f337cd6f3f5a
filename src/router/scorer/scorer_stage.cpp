// `scorer`: orders the candidates that the stages before it chose (a static list, a classifier's
// tier, a learned router's ranking) by
//
//   utility = quality − cost_weight × cost / reference cost − latency_weight × latency (seconds)
//
// best first; the rest stay as fallbacks. Quality and cost are what an earlier stage predicted
// for the candidate (RouteContext::decision), else the configured price applied to the prompt's
// estimated tokens and `output_tokens`, and the quality feedback has shown (POST /v1/feedback,
// router/feedback.hpp) for the model under the request's label, with the configured prior
// (default 0.5; per label, or `default`) counted as `prior_strength` feedbacks. The
// reference cost is the dearest candidate's, so cost_weight 1 gives up all of a prompt's quality
// to avoid it. Latency is the live running average of the (upstream, model)'s answered calls
// (time to first token for a stream), 0 until it has answered, and fading once it has not for a
// few seconds, so that a model which lost its traffic to a slowdown is tried again. A request's
// limits drop the candidates expected to break them: x-switchyard-max-cost-usd those whose
// expected cost is higher, x-switchyard-max-latency-ms those whose recent 95th percentile is;
// when none is left, the request fails with a 400 that names the limit.
//
// The weights may differ by the caller's tier (clients.keys[].tier): premium callers can weigh
// cost at 0 and so get the best model whatever the prompt, free ones weigh it more. A caller
// that has spent `near_budget.at` of a daily or monthly budget is scored with at least
// `near_budget.cost_weight`, so it is routed cheaper before its budget refuses it. Priorities
// shift with the time and the load: during a `windows` entry's UTC hours [from_hour, to_hour)
// (wrapping past midnight when from_hour > to_hour) its factors multiply the weights, and when
// a candidate's upstream has `overload.at` of its max_concurrent calls in flight the latency
// weight is multiplied by `overload.latency_factor`. A self-hosted upstream that declares
// `usd_per_hour` adds its share of the endpoint's time over the live average latency to the
// expected cost.
//
//   stages:
//     - type: static
//       models: [gpt-4o, gpt-4o-mini]
//     - type: scorer
//       cost_weight: 0.5          # optional, default 0
//       latency_weight: 0.02      # optional, default 0: quality given up per second
//       quality: {gpt-4o: 0.9, gpt-4o-mini: {default: 0.75, code: 0.6}}   # optional priors
//       prior_strength: 10        # optional, default 10: feedbacks the prior weighs as
//       output_tokens: 256        # optional, default 256
//       tiers:                    # optional: weights by caller tier; unset ones are the above
//         premium: {cost_weight: 0}
//         free: {cost_weight: 2}
//       near_budget: {at: 0.8, cost_weight: 5}   # optional
//       windows:                  # optional: peak hours, UTC
//         - {from_hour: 9, to_hour: 17, cost_factor: 0.5, latency_factor: 3}
//       overload: {at: 0.8, latency_factor: 3}   # optional
#include "router/scorer/scorer_stage.hpp"

#include "api/usage.hpp"
#include "config/yaml_map.hpp"
#include "router/classify/features.hpp"
#include "router/feedback.hpp"
#include "router/snapshot.hpp"

#include <algorithm>
#include <cmath>
#include <map>

namespace switchyard {

namespace {

struct Weights {
  double cost = 0;
  double latency = 0;
};

struct Window {
  std::uint32_t from_hour = 0, to_hour = 0;  // UTC, [from, to), wrapping past midnight if from > to
  double cost_factor = 1, latency_factor = 1;

  bool contains(std::uint32_t hour) const {
    return from_hour <= to_hour ? hour >= from_hour && hour < to_hour
                                : hour >= from_hour || hour < to_hour;
  }
};

struct ScorerConfig {
  Weights weights;
  std::vector<Window> windows;
  double overload_at = 0;  // 0: off
  double overload_latency_factor = 1;
  std::map<std::string, Weights, std::less<>> tiers;
  double near_budget_at = 0;  // 0: off
  double near_budget_cost = 0;
  // By (model, label); label "" is the model's default.
  std::map<std::pair<const ModelConfig*, std::string>, double, std::less<>> priors;
  double prior_strength = 10;
  double output_tokens = 256;
};

class ScorerStage final : public RouterStage {
 public:
  explicit ScorerStage(ScorerConfig config) : c_(std::move(config)) {}

  // The weights for this request: the caller's tier's, raised to near_budget's cost weight
  // when it is close to a budget, times the factors of the hour's window and of overload.
  Weights weights_for(const RouteContext& ctx) const {
    const Caller& caller = ctx.caller;
    auto tier = c_.tiers.find(caller.tier);
    Weights w = tier == c_.tiers.end() ? c_.weights : tier->second;
    if (c_.near_budget_at > 0 && caller.budget_used >= c_.near_budget_at)
      w.cost = std::max(w.cost, c_.near_budget_cost);
    if (!c_.windows.empty()) {
      const auto since_epoch = ctx.wall_time.time_since_epoch();
      const auto hour = static_cast<std::uint32_t>(
          std::chrono::floor<std::chrono::hours>(since_epoch).count() % 24);
      for (const Window& win : c_.windows)
        if (win.contains(hour)) {
          w.cost *= win.cost_factor;
          w.latency *= win.latency_factor;
          break;
        }
    }
    if (c_.overload_at > 0 &&
        std::any_of(ctx.candidates.begin(), ctx.candidates.end(), [&](const Target* t) {
          return t->state->upstream.in_flight.load(std::memory_order_relaxed) >=
                 c_.overload_at * t->upstream_config->max_concurrent;
        }))
      w.latency *= c_.overload_latency_factor;
    return w;
  }

  double prior(const ModelConfig* model, std::string_view label) const {
    for (std::string_view l : {label, std::string_view()})
      if (auto it = c_.priors.find(std::pair(model, std::string(l))); it != c_.priors.end())
        return it->second;
    return 0.5;
  }

  Result<void> apply(RouteContext& ctx) const override {
    const ApiRequest& req = ctx.request;
    const std::string_view label = feedback_label(ctx.decision);
    const SteadyTime now = ctx.clock.now();
    const double input_tokens = estimated_tokens(req.prompt.chars);
    // What an earlier stage predicted, by target; filled in for the others.
    thread_local std::vector<Decision::Prediction> scored;
    scored.clear();
    for (const Target* t : ctx.candidates) {
      t->state->stats.merge_if_due(now);  // see there: this stage may be what keeps it idle
      auto& p = scored.emplace_back();
      p.target = t;
      if (auto it = std::find_if(ctx.decision.predictions.begin(), ctx.decision.predictions.end(),
                                 [&](const auto& q) { return q.target == t; });
          it != ctx.decision.predictions.end()) {
        p.quality = it->quality;
        p.cost_usd = it->cost_usd;
        continue;
      }
      p.quality = ctx.snapshot.learning->quality.read(t->model->name, label, now)
                      .mean(prior(t->model, label), c_.prior_strength);
      const auto& price = t->model->price_usd_per_mtok;
      p.cost_usd = (input_tokens * price.input + c_.output_tokens * price.output) / 1e6 +
                   endpoint_cost_usd(*t->upstream_config, t->state->stats.latency());
    }
    // An old latency counts for less: a model that lost its traffic to a slowdown hears only
    // probes, and would otherwise never win it back. Past two merges without an answer, the
    // average fades by e^(−idle / kFade).
    auto latency_s = [&](const Target* t) {
      const auto& s = t->state->stats;
      const double idle = std::chrono::duration<double>(now - s.answered_at()).count() -
                          2 * std::chrono::duration<double>(TargetStats::kMergeEvery).count();
      const double fade =
          idle > 0 ? std::exp(-idle / std::chrono::duration<double>(TargetStats::kFade).count())
                   : 1.0;
      return fade *
             std::chrono::duration<double>(req.stream ? s.time_to_first_token() : s.latency())
                 .count();
    };
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
    const Weights w = weights_for(ctx);
    for (auto& p : scored)
      p.score = p.quality - (reference > 0 ? w.cost * p.cost_usd / reference : 0) -
                w.latency * latency_s(p.target);
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
  ScorerConfig c_;
};

}  // namespace

Built<RouterStage> make_scorer_stage(const StageConfig& sc, BuildContext& ctx) {
  ScorerConfig c;
  auto& priors = c.priors;
  std::string error;
  bool ok = read_guarded(error, [&] {
    Map m(*sc.node, sc.path);
    std::string type;
    m.req("type", type);
    m.opt("cost_weight", c.weights.cost);
    m.opt("latency_weight", c.weights.latency);
    m.opt("output_tokens", c.output_tokens);
    m.opt("prior_strength", c.prior_strength);
    if (auto t = m.get("tiers"); t && !t.IsNull()) {
      if (!t.IsMap()) fail(m.at("tiers"), "expected a mapping of tier to weights");
      check_keys(t, m.at("tiers"));
      for (const auto& kv : t) {
        const auto name = kv.first.as<std::string>();
        Map tm(kv.second, m.at("tiers") + "." + name);
        Weights w = c.weights;
        tm.opt("cost_weight", w.cost);
        tm.opt("latency_weight", w.latency);
        tm.finish();
        c.tiers[name] = w;
      }
    }
    if (auto nb = m.get("near_budget"); nb && !nb.IsNull()) {
      Map nm(nb, m.at("near_budget"));
      nm.req("at", c.near_budget_at);
      nm.req("cost_weight", c.near_budget_cost);
      nm.finish();
      if (c.near_budget_at <= 0 || c.near_budget_at > 1)
        fail(nm.at("at"), "must be a share of the budget, above 0 and at most 1");
    }
    if (auto ws = m.get("windows"); ws && !ws.IsNull()) {
      if (!ws.IsSequence()) fail(m.at("windows"), "expected a list of hour windows");
      for (std::size_t i = 0; i < ws.size(); ++i) {
        Map wm(ws[i], m.at("windows") + "[" + std::to_string(i) + "]");
        Window win;
        wm.req("from_hour", win.from_hour);
        wm.req("to_hour", win.to_hour);
        wm.opt("cost_factor", win.cost_factor);
        wm.opt("latency_factor", win.latency_factor);
        wm.finish();
        if (win.from_hour > 23) fail(wm.at("from_hour"), "must be an hour, 0 to 23");
        if (win.to_hour > 24) fail(wm.at("to_hour"), "must be an hour, 0 to 24");
        c.windows.push_back(win);
      }
    }
    if (auto o = m.get("overload"); o && !o.IsNull()) {
      Map om(o, m.at("overload"));
      om.req("at", c.overload_at);
      om.req("latency_factor", c.overload_latency_factor);
      om.finish();
      if (c.overload_at <= 0 || c.overload_at > 1)
        fail(om.at("at"), "must be a share of max_concurrent, above 0 and at most 1");
    }
    if (auto q = m.get("quality"); q && !q.IsNull()) {
      if (!q.IsMap()) fail(m.at("quality"), "expected a mapping of model to quality, 0 to 1");
      check_keys(q, m.at("quality"));
      for (const auto& kv : q) {
        const auto name = kv.first.as<std::string>();
        const auto path = m.at("quality") + "." + name;
        auto targets = ctx.targets_for(name);
        if (targets.empty())
          fail(path, "unknown model \"" + name + "\" (known: " + std::string(ctx.model_list()) +
                         ")");
        // A number, or a mapping of label (or `default`) to number.
        auto add = [&](const std::string& label, const YAML::Node& v, const std::string& at) {
          double quality = 0;
          Map::read(v, at, quality);
          if (quality < 0 || quality > 1) fail(at, "must be between 0 and 1");
          for (const auto* t : targets) priors[std::pair(t->model, label)] = quality;
        };
        if (!kv.second.IsMap()) {
          add("", kv.second, path);
          continue;
        }
        check_keys(kv.second, path);
        for (const auto& lv : kv.second) {
          const auto label = lv.first.as<std::string>();
          std::string at = path;
          at.append(".").append(label);
          add(label == "default" ? "" : label, lv.second, at);
        }
      }
    }
    m.finish();
    if (!(c.prior_strength > 0)) fail(m.at("prior_strength"), "must be greater than 0");
  });
  if (!ok) return config_error(std::move(error));
  return std::make_unique<const ScorerStage>(std::move(c));
}

}  // namespace switchyard

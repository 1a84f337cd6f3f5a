// `bandit`: picks among the candidates the stages before it chose by Thompson sampling, learning
// from feedback (POST /v1/feedback) which model answers best. Its context is the request's label
// (a classifier's first, or none), so it learns per kind of prompt.
//
// Each candidate's quality under the label is a Beta posterior: the prior `quality` counted as
// `strength` feedbacks, plus the feedback the gateway has had on that model under that label
// (router/feedback.hpp), each weighed down by half every feedback.half_life_s, so that when a
// model drifts the bandit follows it. Per request it draws one quality per candidate and moves
// the one with the highest draw − cost_weight × cost / (the dearest candidate's cost) to the
// front; the others keep their order as fallbacks. A draw that picks another model than the best
// by posterior mean explores; at most `explore` of the stage's recent requests may, beyond which
// the best by mean is taken. With `shadow: true` the stage only records what it would have
// chosen (the decision's `bandit`, in the decision log) and leaves the order alone, so a policy
// can be tried on live traffic and its regret read from the log before it routes.
//
//   stages:
//     - type: static
//       models: [gpt-4o, gpt-4o-mini]
//     - type: bandit
//       explore: 0.2                       # optional, default 0.2
//       prior: {quality: 0.5, strength: 2}  # optional, these defaults
//       cost_weight: 0                     # optional, default 0
//       output_tokens: 256                 # optional, default 256: for the cost estimate
//       shadow: false                      # optional, default false
#include "router/bandit/bandit_stage.hpp"

#include "api/usage.hpp"
#include "config/yaml_map.hpp"
#include "router/classify/features.hpp"
#include "router/feedback.hpp"
#include "router/share_budget.hpp"
#include "router/snapshot.hpp"

#include <algorithm>
#include <random>

namespace switchyard {

namespace {

struct BanditConfig {
  double explore = 0.2;
  double prior = 0.5;
  double strength = 2;
  double cost_weight = 0;
  std::uint64_t output_tokens = 256;
  bool shadow = false;
};

std::mt19937_64& rng() {
  thread_local std::mt19937_64 r{std::random_device{}()};
  return r;
}

double beta_draw(double a, double b) {
  const double x = std::gamma_distribution<double>(a, 1)(rng());
  const double y = std::gamma_distribution<double>(b, 1)(rng());
  return x + y > 0 ? x / (x + y) : 0.5;
}

class BanditStage final : public RouterStage {
 public:
  explicit BanditStage(BanditConfig c) : c_(c), budget_(std::make_unique<ShareBudget>()) {}

  Result<void> apply(RouteContext& ctx) const override {
    auto& cands = ctx.candidates;
    if (cands.empty()) return {};
    const std::string_view label = feedback_label(ctx.decision);
    const SteadyTime now = ctx.clock.now();
    const QualityBook& book = ctx.snapshot.learning->quality;
    const Usage expected{estimated_tokens(ctx.request.prompt.chars), c_.output_tokens, false};
    double dearest = 0;
    for (const Target* t : cands) dearest = std::max(dearest, cost_usd(expected, *t->model));
    auto penalty = [&](const Target* t) {
      return dearest > 0 ? c_.cost_weight * cost_usd(expected, *t->model) / dearest : 0;
    };
    std::size_t drawn = 0, best = 0;
    double top_draw = -1e300, top_mean = -1e300;
    for (std::size_t i = 0; i < cands.size(); ++i) {
      const auto e = book.read(cands[i]->model->name, label, now);
      const double a = c_.prior * c_.strength + e.score;
      const double b = (1 - c_.prior) * c_.strength + std::max(0.0, e.weight - e.score);
      const double draw = beta_draw(a, b) - penalty(cands[i]);
      const double mean = a / (a + b) - penalty(cands[i]);
      if (draw > top_draw) top_draw = draw, drawn = i;
      if (mean > top_mean) top_mean = mean, best = i;
    }
    budget_->count();
    const bool explored = drawn != best && budget_->take(c_.explore);
    const std::size_t pick = drawn != best && !explored ? best : drawn;
    ctx.decision.bandit = {cands[pick], explored, c_.shadow};
    if (!c_.shadow)
      std::rotate(cands.begin(), cands.begin() + static_cast<std::ptrdiff_t>(pick),
                  cands.begin() + static_cast<std::ptrdiff_t>(pick) + 1);
    return {};
  }

 private:
  BanditConfig c_;
  std::unique_ptr<ShareBudget> budget_;  // explorations; the stage itself stays immutable
};

}  // namespace

Built<RouterStage> make_bandit_stage(const StageConfig& sc, BuildContext&) {
  BanditConfig c;
  std::string error;
  bool ok = read_guarded(error, [&] {
    Map m(*sc.node, sc.path);
    std::string type;
    m.req("type", type);
    m.opt("explore", c.explore);
    m.opt("cost_weight", c.cost_weight);
    m.opt("output_tokens", c.output_tokens);
    m.opt("shadow", c.shadow);
    if (auto p = m.get("prior"); p && !p.IsNull()) {
      Map pm(p, m.at("prior"));
      pm.opt("quality", c.prior);
      pm.opt("strength", c.strength);
      pm.finish();
      if (!(c.prior > 0 && c.prior < 1)) fail(pm.at("quality"), "must be between 0 and 1, exclusive");
      if (!(c.strength > 0)) fail(pm.at("strength"), "must be greater than 0");
    }
    m.finish();
    if (c.explore > 1) fail(m.at("explore"), "must be a share, 0 to 1");
  });
  if (!ok) return config_error(std::move(error));
  return std::make_unique<const BanditStage>(c);
}

}  // namespace switchyard

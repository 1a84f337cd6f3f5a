// `race`: several candidates at once (router/contest.hpp), the losers cancelled the moment the
// race is decided. K = max_calls of the candidates, in the stages' order, fewer when their
// predicted costs (a classifier's or scorer's; else the prompt's estimated tokens at the model's
// input price, a rough lower estimate) would add up past the request's
// x-switchyard-max-cost-usd. Modes:
//  - first_acceptable: the first answer that passes `gates` wins (any answer, without gates).
//    For a streaming client the first call with a token wins and streams straight through:
//    a stream cannot be judged before it ends.
//  - best_of: every answer that comes within `window_ms`, then the one most of them agree on
//    (pick: vote, by gates/agreement's normalisation: the choice letter or number, else the
//    text), the one whose model the stages predicted best (pick: predicted_quality), or the one
//    a judge model picks (pick: judge, with `judge`, gates/judge.hpp; by vote if it cannot).
//  - fast_then_upgrade: the `upgrade` model's answer if it comes within `window_ms`, else the
//    first other candidate's (the fast one), whenever that comes.
// When no answer wins outright (none acceptable, or the window passed), the best the mode can
// say of those that came is committed: in candidate order for first_acceptable and
// fast_then_upgrade. A streaming client of best_of or fast_then_upgrade gets the answer replayed
// as events. An upstream's 4xx (the request's fault) wins at once. Every call is billed; the
// metrics count each call won, lost or failed and what the losers cost. Cancellation (the
// client went away) reaches every call.
//
//   dispatcher:
//     type: race
//     mode: first_acceptable  # or best_of, fast_then_upgrade
//     max_calls: 3            # default 3, at most 8
//     gates: {refusal: true}  # first_acceptable only
//     pick: vote              # best_of: vote (default), predicted_quality or judge
//     judge: {model: gpt-4o-mini}  # pick: judge
//     window_ms: 3000         # best_of and fast_then_upgrade (default 3000)
//     upgrade: gpt-4o         # fast_then_upgrade: the better model
#include "router/race/race.hpp"

#include "config/yaml_map.hpp"
#include "metrics/metrics.hpp"
#include "router/classify/features.hpp"
#include "router/contest.hpp"
#include "router/gates/gates.hpp"

#include <algorithm>

namespace switchyard {

namespace {

using std::chrono::milliseconds;

enum class Mode : std::uint8_t { first_acceptable, best_of, fast_then_upgrade };

struct RaceConfig {
  Mode mode = Mode::first_acceptable;
  std::uint32_t max_calls = 3;
  std::optional<Gates> gates;
  enum class Pick : std::uint8_t { vote, predicted_quality, judge } pick = Pick::vote;  // best_of
  std::optional<Judge> judge;
  milliseconds window{3000};
  const ModelConfig* upgrade = nullptr;
};

class RaceDispatcher final : public Dispatcher {
 public:
  RaceDispatcher(RaceConfig config, Metrics::WastedUsd wasted)
      : c_(std::move(config)), wasted_(wasted) {}

  Task<Result<void>> dispatch(RouteContext& ctx, ResponseWriter& out) const override {
    auto entrants = entrants_for(ctx);
    if (entrants.empty())
      co_return make_error(Reason::upstream_saturated,
                           c_.mode == Mode::fast_then_upgrade
                               ? "route has no candidates besides its upgrade model, or not it"
                               : "route has no candidates");
    // Only first_acceptable streams straight through; the others judge whole answers.
    const bool stream = ctx.request.stream && c_.mode == Mode::first_acceptable;
    auto result = co_await run_contest(
        ctx, std::move(entrants), stream ? &out : nullptr,
        [&](std::size_t i, const CallResult& r) { return wins(ctx, i, r); });
    if (!result.winner && c_.judge) result.winner = co_await judged(ctx, result.calls);
    if (!result.winner) result.winner = pick(ctx, result.calls);
    count_contest(result, wasted_);
    co_return co_await answer_with_winner(ctx, result, out);
  }

 private:
  std::vector<Entrant> entrants_for(const RouteContext& ctx) const {
    std::vector<Entrant> entrants;
    const auto& c = ctx.candidates;
    if (c_.mode == Mode::fast_then_upgrade) {
      auto is_upgrade = [&](const Target* t) { return t->model == c_.upgrade; };
      auto better = std::find_if(c.begin(), c.end(), is_upgrade);
      auto fast = std::find_if_not(c.begin(), c.end(), is_upgrade);
      if (better == c.end() || fast == c.end()) return entrants;
      entrants.push_back({*better, {}, c_.window, {}, {}});
      entrants.push_back({*fast, {}, {}, {}, {}});
      return entrants;
    }
    const std::optional<double> cap = ctx.request.max_cost_usd;
    const double prompt_mtok = estimated_tokens(ctx.request.prompt.chars) / 1e6;
    double cost = 0;
    for (const Target* t : c) {
      if (entrants.size() >= c_.max_calls) break;
      const auto& predictions = ctx.decision.predictions;
      const auto p = std::find_if(predictions.begin(), predictions.end(),
                                  [&](const auto& p) { return p.target == t; });
      cost += p != predictions.end() ? p->cost_usd
                                     : prompt_mtok * t->model->price_usd_per_mtok.input;
      if (cap && !entrants.empty() && cost > *cap) break;
      entrants.push_back({t, {}, c_.mode == Mode::best_of ? c_.window : milliseconds(0), {},
                          {.logprobs = c_.gates && c_.gates->needs_logprobs}});
    }
    return entrants;
  }

  // Whether the call that just ended decides the race.
  bool wins(const RouteContext& ctx, std::size_t i, const CallResult& r) const {
    if (!r.ok()) return !is_retryable(*r.error);
    // The request's fault, which every candidate would find; unless the gateway's own logprobs
    // may be what the upstream refused.
    if (r.reply.status >= 300) return !r.logprobs_added;
    switch (c_.mode) {
      case Mode::first_acceptable: return acceptable(ctx, r);
      case Mode::best_of: return false;
      case Mode::fast_then_upgrade: return i == 0;  // the upgrade, within its window
    }
    return false;
  }

  bool acceptable(const RouteContext& ctx, const CallResult& r) const {
    if (!c_.gates) return true;
    const Answer answer = read_answer(r);
    const GateInput in(ctx.request, answer, 1, predicted_quality(ctx.decision, r.target->model));
    return c_.gates->verdict(c_.gates->judge_each(in)).gate.empty();
  }

  // The answer the judge picks of two or more, as an index into `calls`; nullopt if it cannot.
  Task<std::optional<std::size_t>> judged(RouteContext& ctx,
                                          const std::vector<CallResult>& calls) const {
    std::vector<std::size_t> index;
    std::vector<Answer> answers;
    for (std::size_t i = 0; i < calls.size(); ++i)
      if (calls[i].ok() && calls[i].reply.status < 300) {
        index.push_back(i);
        answers.push_back(read_answer(calls[i]));
      }
    if (answers.size() < 2) co_return std::nullopt;
    std::vector<const Answer*> shown;
    shown.reserve(answers.size());
    for (const Answer& a : answers) shown.push_back(&a);
    const auto picked = co_await judge_pick(ctx, *c_.judge, shown);
    co_return picked ? std::optional(index[*picked]) : std::nullopt;
  }

  // The answer to commit when none won outright: by vote or prediction for best_of, else the
  // first answer in candidate order (fast_then_upgrade: the upgrade timed out or failed, so
  // the fast one).
  std::optional<std::size_t> pick(const RouteContext& ctx,
                                  const std::vector<CallResult>& calls) const {
    std::optional<std::size_t> best;
    if (c_.mode != Mode::best_of) {
      for (std::size_t i = 0; i < calls.size(); ++i)
        if (calls[i].ok()) return i;
      return best;
    }
    const bool vote = c_.pick != RaceConfig::Pick::predicted_quality;
    std::vector<std::string> keys(calls.size());
    for (std::size_t i = 0; i < calls.size(); ++i)
      if (calls[i].ok() && vote) keys[i] = agreement_key(read_answer(calls[i]));
    double best_score = -1;
    for (std::size_t i = 0; i < calls.size(); ++i) {
      if (!calls[i].ok()) continue;
      double score = 0;
      if (vote) {
        for (std::size_t j = 0; j < calls.size(); ++j) score += calls[j].ok() && keys[j] == keys[i];
      } else {
        for (const auto& p : ctx.decision.predictions)
          if (p.target == calls[i].target) score = p.quality;
      }
      if (score > best_score) best_score = score, best = i;  // the earliest among equals
    }
    return best;
  }

  RaceConfig c_;
  Metrics::WastedUsd wasted_;
};

}  // namespace

Built<Dispatcher> make_race_dispatcher(const StageConfig& sc, BuildContext& ctx) {
  RaceConfig config;
  std::string error;
  bool ok = read_guarded(error, [&] {
    Map m(*sc.node, sc.path);
    std::string type, mode = "first_acceptable", pick = "vote", upgrade;
    std::uint32_t window_ms = 3000;
    m.req("type", type);
    m.opt("mode", mode);
    m.opt("max_calls", config.max_calls);
    m.opt("pick", pick);
    m.opt("window_ms", window_ms);
    m.opt("upgrade", upgrade);
    if (auto g = m.get("gates"); g && !g.IsNull()) {
      if (mode != "first_acceptable") fail(m.at("gates"), "only mode first_acceptable takes gates");
      config.gates = read_gates(g, m.at("gates"), ctx);
      if (config.gates->agreement)
        fail(m.at("gates") + ".agreement",
             "a race of single answers cannot agree; use mode best_of");
      if (config.gates->judge)
        fail(m.at("gates") + ".judge",
             "a race decides as each answer ends, with no call to spare; use mode best_of with "
             "pick: judge, or a cascade");
      if (config.gates->code)
        fail(m.at("gates") + ".code",
             "a race decides as each answer ends, with no time to run a command; use a cascade");
      if (config.gates->similar)
        fail(m.at("gates") + ".similar",
             "a race decides as each answer ends, with no call to spare; use a cascade");
    }
    const YAML::Node judge = m.get("judge");
    const bool has_judge = judge && !judge.IsNull();
    m.finish();
    if (mode == "first_acceptable") config.mode = Mode::first_acceptable;
    else if (mode == "best_of") config.mode = Mode::best_of;
    else if (mode == "fast_then_upgrade") config.mode = Mode::fast_then_upgrade;
    else
      fail(m.at("mode"),
           "expected first_acceptable, best_of or fast_then_upgrade, got \"" + mode + "\"");
    if (config.max_calls < 2 || config.max_calls > 8) fail(m.at("max_calls"), "must be 2 to 8");
    if (pick == "predicted_quality") config.pick = RaceConfig::Pick::predicted_quality;
    else if (pick == "judge") config.pick = RaceConfig::Pick::judge;
    else if (pick != "vote")
      fail(m.at("pick"), "expected vote, predicted_quality or judge, got \"" + pick + "\"");
    if (config.pick == RaceConfig::Pick::judge) {
      if (config.mode != Mode::best_of) fail(m.at("pick"), "only mode best_of picks by judge");
      if (!has_judge) fail(m.at("judge"), "is required by pick: judge: the model that picks");
      config.judge = read_judge(judge, m.at("judge"), ctx);
    } else if (has_judge) {
      fail(m.at("judge"), "only pick: judge takes a judge");
    }
    if (window_ms == 0) fail(m.at("window_ms"), "must be above 0");
    config.window = milliseconds(window_ms);
    if (config.mode == Mode::fast_then_upgrade) {
      if (upgrade.empty())
        fail(m.at("upgrade"), "is required by mode fast_then_upgrade: the better model");
      auto targets = ctx.targets_for(upgrade);
      if (targets.empty())
        fail(m.at("upgrade"), "unknown model \"" + upgrade +
                                  "\" (known: " + std::string(ctx.model_list()) + ")");
      config.upgrade = targets.front()->model;
    } else if (!upgrade.empty()) {
      fail(m.at("upgrade"), "only mode fast_then_upgrade takes an upgrade model");
    }
  });
  if (!ok) return config_error(std::move(error));
  return std::make_unique<const RaceDispatcher>(
      std::move(config), ctx.metrics().race_wasted_usd(std::string(ctx.route())));
}

}  // namespace switchyard

// `hedge`: the first candidate is called at once; if it has not answered by the delay (for a
// streaming client: sent its first token), a second call starts, and the first to answer wins
// while the other is cancelled (router/contest.hpp). The hedge goes to the next candidate, or to
// the same model again when the route has only one: a slow answer is most often bad luck on one
// replica or connection, not the model. The delay is fixed (`delay_ms`) or, by default, the first
// candidate's live 95th percentile of time to first token (latency, for a whole answer), so that
// about one request in twenty hedges; before any calls were seen, `delay_ms` is used. A budget
// caps the share of requests that hedge (`budget`), so that a slow fleet is not met with twice
// its load. A call that fails starts the next candidate at once, as `single` falls
// back; the candidates past the hedges are kept for that. Every call is billed, a cancelled one
// its prompt (call.cpp); the metrics count hedges fired, won and over budget, each call's
// result and what the losers cost. Cancellation (the client went away) reaches every call.
//
//   dispatcher:
//     type: hedge
//     delay_ms: 800      # optional: the delay before live statistics exist, or always
//     delay: p95         # a percentile of the live statistics, p50 to p99 (default p95), or fixed
//     hedges: 1          # extra calls at most (default 1, at most 3)
//     budget: 0.1        # share of requests that may hedge (default 0.1)
#include "router/hedge/hedge.hpp"

#include "config/yaml_map.hpp"
#include "metrics/metrics.hpp"
#include "router/contest.hpp"
#include "router/share_budget.hpp"

#include <cstdio>

namespace switchyard {

namespace {

using std::chrono::milliseconds;

struct HedgeConfig {
  milliseconds delay{1000};
  double quantile = 0.95;  // of the live statistics; 0: the delay is fixed
  std::uint32_t hedges = 1;
  double budget = 0.1;
};

class HedgeDispatcher final : public Dispatcher {
 public:
  HedgeDispatcher(HedgeConfig config, LazyCounters& hedges, Metrics::WastedUsd wasted)
      : config_(config),
        hedges_(hedges),
        wasted_(wasted),
        budget_(std::make_unique<ShareBudget>()) {}

  Task<Result<void>> dispatch(RouteContext& ctx, ResponseWriter& out) const override {
    if (ctx.candidates.empty())
      co_return make_error(Reason::upstream_saturated, "route has no candidates");
    budget_->count();
    const auto& c = ctx.candidates;
    const Target& first = *c.front();
    const auto delay = delay_for(ctx, first);
    // The first candidate, the hedges (the next candidates, or the first again), then every
    // other candidate as a fallback.
    std::vector<Entrant> entrants;
    entrants.reserve(c.size() + config_.hedges);
    entrants.push_back({&first, {}, {}, {}, {}});
    for (std::uint32_t k = 1; k <= config_.hedges; ++k)
      entrants.push_back({c.size() > 1 ? c[std::min<std::size_t>(k, c.size() - 1)] : &first,
                          delay * k, {}, [this] { return may_hedge(); }, {}});
    for (std::size_t k = config_.hedges + 1; k < c.size(); ++k)
      entrants.push_back({c[k], Entrant::kOnFailure, {}, {}, {}});

    // An answer wins; so does an error another candidate would not mend (the request's fault).
    auto result = co_await run_contest(
        ctx, std::move(entrants), ctx.request.stream ? &out : nullptr,
        [](std::size_t, const CallResult& r) { return r.ok() || !is_retryable(*r.error); });
    count_contest(result, wasted_);
    if (result.winner && result.started[*result.winner] == Start::at_delay) hedges_.inc(1, "won");
    co_return co_await answer_with_winner(ctx, result, out);
  }

 private:
  // The delay before a hedge: the first candidate's live p95 (time to first token for a stream,
  // latency otherwise), or the configured one when there is none yet or it is fixed.
  std::chrono::nanoseconds delay_for(const RouteContext& ctx, const Target& t) const {
    if (config_.quantile == 0) return config_.delay;
    const auto now = ctx.clock.now();
    const double q = config_.quantile;
    const auto live = ctx.request.stream ? t.state->stats.time_to_first_token_quantile(q, now)
                                         : t.state->stats.latency_quantile(q, now);
    return live.count() > 0 ? live : std::chrono::nanoseconds(config_.delay);
  }

  bool may_hedge() const {
    const bool ok = budget_->take(config_.budget);
    hedges_.inc(ok ? 0 : 2, ok ? "fired" : "over_budget");
    return ok;
  }

  HedgeConfig config_;
  LazyCounters& hedges_;
  Metrics::WastedUsd wasted_;
  std::unique_ptr<ShareBudget> budget_;  // hedges; the dispatcher itself stays immutable
};

}  // namespace

Built<Dispatcher> make_hedge_dispatcher(const StageConfig& sc, BuildContext& ctx) {
  HedgeConfig config;
  std::string error;
  bool ok = read_guarded(error, [&] {
    Map m(*sc.node, sc.path);
    std::string type, delay = "p95";
    int percentile = 0;
    std::uint32_t delay_ms = 1000;
    m.req("type", type);
    m.opt("delay_ms", delay_ms);
    m.opt("delay", delay);
    m.opt("hedges", config.hedges);
    m.opt("budget", config.budget);
    m.finish();
    if (delay == "fixed") config.quantile = 0;
    else if (std::sscanf(delay.c_str(), "p%d", &percentile) == 1 && percentile >= 50 &&
             percentile <= 99 && delay == "p" + std::to_string(percentile))
      config.quantile = percentile / 100.0;
    else
      fail(m.at("delay"), "expected fixed or a percentile p50 to p99, got \"" + delay + "\"");
    if (delay_ms == 0) fail(m.at("delay_ms"), "must be above 0");
    if (config.hedges == 0 || config.hedges > 3) fail(m.at("hedges"), "must be 1 to 3");
    if (config.budget < 0 || config.budget > 1) fail(m.at("budget"), "must be a share, 0 to 1");
    config.delay = milliseconds(delay_ms);
  });
  if (!ok) return config_error(std::move(error));
  const std::string route(ctx.route());
  return std::make_unique<const HedgeDispatcher>(config, ctx.metrics().hedges(route),
                                                 ctx.metrics().race_wasted_usd(route));
}

}  // namespace switchyard

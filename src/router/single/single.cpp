// `single`: try the candidates in order; fall back to the next on connect errors, timeouts, 5xx
// and 429 as long as nothing has reached the client.
//
// When every candidate has failed, `retry` tries them all again, up to `max_retries` more
// rounds, after a pause: exponential backoff with jitter (a random wait between half and all of
// backoff_ms × 2^round, at most max_backoff_ms), or longer if an upstream asked to wait with
// retry-after / retry-after-ms. A pause longer than `max_wait_ms` is not taken: the request fails
// with the upstream's retry-after for the client. Retries are capped by a budget: at most
// `budget` of the route's recent requests may retry, so that a fleet-wide outage is not met with
// a retry storm. A request whose only candidate is cooling down (its circuit breaker open) waits
// until it turns half-open, if that is within max_wait_ms and within the caller's own latency
// limit (x-switchyard-max-latency-ms), rather than be refused by it. Waiting is cancelled with
// the request.
//
//   dispatcher:
//     type: single
//     max_attempts: 3        # optional; default: every candidate
//     retry:                 # optional; default: no retries
//       max_retries: 2
//       backoff_ms: 100      # default 100
//       max_backoff_ms: 2000 # default 2000
//       max_wait_ms: 5000    # default 5000
//       budget: 0.2          # default 0.2
#include "router/single/single.hpp"

#include "config/yaml_map.hpp"
#include "core/cancelled.hpp"
#include "router/call.hpp"
#include "router/share_budget.hpp"

#include <algorithm>
#include <cmath>
#include <optional>
#include <random>

namespace switchyard {

namespace {

using std::chrono::milliseconds;

struct RetryConfig {
  std::uint32_t max_retries = 0;
  milliseconds backoff{100}, max_backoff{2000}, max_wait{5000};
  double budget = 0.2;
};

// "Equal jitter": half the cap, plus a random part of the other half, so that retries spread
// out yet never come at once.
milliseconds jittered(milliseconds cap) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  const std::int64_t half = cap.count() / 2;
  return milliseconds(half + std::uniform_int_distribution<std::int64_t>(0, cap.count() - half)(rng));
}

class SingleDispatcher final : public Dispatcher {
 public:
  SingleDispatcher(std::uint32_t max_attempts, RetryConfig retry)
      : max_attempts_(max_attempts), retry_(retry), budget_(std::make_unique<ShareBudget>()) {}

  Task<Result<void>> dispatch(RouteContext& ctx, ResponseWriter& out) const override {
    std::optional<Error> last;  // built only when no call is made: most requests have one
    if (retry_.max_retries > 0) budget_->count();
    if (ctx.candidates.size() == 1 && retry_.max_retries > 0) {
      const Target& t = *ctx.candidates.front();
      const auto half_open = t.state->breaker.half_open_at(ctx.clock.now());
      using Ms = std::chrono::duration<double, std::milli>;
      const Ms may_wait = std::min(Ms(retry_.max_wait),
                                   Ms(ctx.request.max_latency_ms.value_or(HUGE_VAL)));
      if (t.upstream_config->breaker.enabled && half_open &&
          *half_open - ctx.clock.now() <= may_wait)
        if (auto slept = co_await ctx.clock.sleep_until(*half_open); !slept) co_return slept.error();
    }
    for (std::uint32_t round = 0;; ++round) {
      std::uint32_t tried = 0;
      milliseconds asked{0};  // the longest retry-after of this round
      for (const Target* t : ctx.candidates) {
        if (max_attempts_ && tried++ >= max_attempts_) break;
        // A client that hung up during the last attempt does not get another one.
        if (cancelled(co_await boost::asio::this_coro::cancellation_state))
          co_return make_error(Reason::cancelled, "client went away");
        // A stream passes straight through, for the upstream's time to first token.
        auto a = co_await answer_with(ctx, *t, out);
        if (a.done) co_return a.result;
        if (!is_retryable(*a.call.error)) co_return *a.call.error;
        // What the upstream itself asked (the error's retry_after_ms has a default for clients).
        asked = std::max(asked, milliseconds(a.call.reply.retry_after_ms));
        last = std::move(*a.call.error);
      }
      if (ctx.attempts.empty() || round >= retry_.max_retries) break;
      const milliseconds cap =
          std::min(retry_.max_backoff, retry_.backoff * (std::int64_t{1} << std::min(round, 20u)));
      const auto pause = std::max(asked, jittered(cap));
      if (pause > retry_.max_wait || !budget_->take(retry_.budget)) break;
      if (auto slept = co_await ctx.clock.sleep_until(ctx.clock.now() + pause); !slept)
        co_return slept.error();
    }
    if (!last) last = make_error(Reason::upstream_saturated, "route has no candidates");
    co_return ctx.attempts.empty() ? Result<void>(*last)
                                   : Result<void>(all_attempts_failed(ctx, std::move(*last)));
  }

 private:
  std::uint32_t max_attempts_;
  RetryConfig retry_;
  std::unique_ptr<ShareBudget> budget_;  // retries; the dispatcher itself stays immutable
};

}  // namespace

Built<Dispatcher> make_single_dispatcher(const StageConfig& sc, BuildContext&) {
  std::uint32_t max_attempts = 0;
  RetryConfig retry;
  std::string error;
  bool ok = read_guarded(error, [&] {
    Map m(*sc.node, sc.path);
    std::string type;
    m.req("type", type);
    m.opt("max_attempts", max_attempts);
    if (auto r = m.get("retry"); r && !r.IsNull()) {
      Map rm(r, m.at("retry"));
      std::uint32_t backoff = 100, max_backoff = 2000, max_wait = 5000;
      rm.opt("max_retries", retry.max_retries);
      rm.opt("backoff_ms", backoff);
      rm.opt("max_backoff_ms", max_backoff);
      rm.opt("max_wait_ms", max_wait);
      rm.opt("budget", retry.budget);
      rm.finish();
      if (retry.max_retries > 10) fail(rm.at("max_retries"), "must be at most 10");
      if (max_backoff < backoff) fail(rm.at("max_backoff_ms"), "must be at least backoff_ms");
      if (retry.budget > 1) fail(rm.at("budget"), "must be a share, 0 to 1");
      retry.backoff = milliseconds(backoff);
      retry.max_backoff = milliseconds(max_backoff);
      retry.max_wait = milliseconds(max_wait);
    }
    m.finish();
  });
  if (!ok) return config_error(std::move(error));
  return std::make_unique<const SingleDispatcher>(max_attempts, retry);
}

}  // namespace switchyard

#include "router/contest.hpp"

#include "core/cancelled.hpp"
#include "metrics/metrics.hpp"
#include "router/call.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <array>
#include <memory>

namespace switchyard {

namespace {

namespace net = boost::asio;
using namespace net::experimental::awaitable_operators;

constexpr auto use_tuple = net::as_tuple(net::use_awaitable);

// What the entrants of one contest share, in its coroutine frame; all on one executor. Each
// entrant has a flag and a timer to be nudged by: a waiting one starts (a call under way
// failed) unless the contest is decided, a running one gives up (another took the response).
// The flag is the truth, the timer only wakes the entrant if it is waiting.
struct State {
  State(RouteContext& c, std::vector<Entrant> e, ResponseWriter* o, const net::any_io_executor& ex)
      : ctx(c), entrants(std::move(e)), out(o), start(c.clock.now()),
        started(entrants.size(), Start::never), finished(entrants.size(), false),
        nudged(entrants.size(), false) {
    timers.reserve(entrants.size());
    for (std::size_t i = 0; i < entrants.size(); ++i)
      timers.push_back(
          std::make_unique<net::steady_timer>(ex, net::steady_timer::time_point::max()));
  }

  void nudge(std::size_t i) {
    nudged[i] = true;
    timers[i]->cancel();
  }
  // `i` wins: every other entrant stops (or never starts).
  void decide(std::size_t i) {
    winner = i;
    for (std::size_t j = 0; j < entrants.size(); ++j)
      if (j != i) nudge(j);
  }
  // A call under way failed: the next waiting entrant starts now.
  void start_next() {
    for (std::size_t j = 0; j < entrants.size(); ++j)
      if (started[j] == Start::never && !finished[j] && !nudged[j]) return nudge(j);
  }

  RouteContext& ctx;
  const std::vector<Entrant> entrants;
  ResponseWriter* out;
  const SteadyTime start;
  std::vector<Start> started;
  std::vector<bool> finished, nudged;
  std::vector<std::unique_ptr<net::steady_timer>> timers;
  std::optional<std::size_t> winner;
};

// The client's writer as one streaming entrant sees it: the first to begin the stream takes the
// response and stops the others; once taken, it reads as started to the rest, so that none of
// them commits (CallSink checks before it writes).
class EntrantWriter final : public ResponseWriter {
 public:
  EntrantWriter(State& s, ResponseWriter& out, std::size_t me) : s_(s), out_(out), me_(me) {}
  void set_header(std::string_view name, std::string_view value) override {
    out_.set_header(name, value);
  }
  void set_trailer(std::string_view name, std::string_view value) override {
    out_.set_trailer(name, value);
  }
  Task<Result<void>> send(int status, std::string_view content_type,
                          std::string_view body) override {
    return out_.send(status, content_type, body);
  }
  void begin_stream() override {
    s_.decide(me_);
    out_.begin_stream();
  }
  void write_event(std::string_view event) override { out_.write_event(event); }
  Task<Result<void>> flush() override { return out_.flush(); }
  Task<Result<void>> end_stream() override { return out_.end_stream(); }
  bool started() const override { return s_.winner.has_value() || out_.started(); }

 private:
  State& s_;
  ResponseWriter& out_;
  std::size_t me_;
};

struct Outcome {
  std::size_t index = static_cast<std::size_t>(-1);
  CallResult call;
};

Task<Outcome> run_entrant(State& s, std::size_t i) {
  // Once cancelled it still awaits (the rest of its call, the nudge timer): no throwing.
  co_await net::this_coro::throw_if_cancelled(false);
  const Entrant& e = s.entrants[i];
  net::steady_timer& nudge = *s.timers[i];
  Outcome o{i, {}};
  o.call.target = e.target;
  o.call.error = make_error(Reason::cancelled, "not needed: another call answered first");

  // Waiting: for the delay (then maybe_hedge() decides), or a nudge.
  Start how = Start::at_once;
  if (e.delay.count() > 0) {
    bool delay_passed = e.delay == Entrant::kOnFailure;
    while (!s.nudged[i]) {
      if (delay_passed) {
        co_await nudge.async_wait(use_tuple);
      } else {
        auto woke = co_await (s.ctx.clock.sleep_until(s.start + e.delay) ||
                              nudge.async_wait(use_tuple));
        if (woke.index() == 0 && !s.nudged[i] &&
            !cancelled(co_await net::this_coro::cancellation_state)) {
          delay_passed = true;
          if (!e.may_hedge || e.may_hedge()) {
            how = Start::at_delay;
            break;
          }
        }
      }
      if (cancelled(co_await net::this_coro::cancellation_state)) co_return o;
    }
    if (how != Start::at_delay) {
      if (s.winner || cancelled(co_await net::this_coro::cancellation_state)) co_return o;
      how = Start::on_failure;
    }
  }
  s.started[i] = how;
  s.nudged[i] = false;  // from here on, a nudge means another took the response

  // Into `o` even when stopped: a cancelled call's result says what it was billed.
  auto ask = [&]() -> Task<void> {
    co_await net::this_coro::throw_if_cancelled(false);  // its own entry point under ||
    if (!s.out) {
      o.call = co_await call(s.ctx, *e.target, e.options);
      co_return;
    }
    EntrantWriter writer(s, *s.out, i);
    o.call = co_await call_streaming(s.ctx, *e.target, writer);
  };
  auto stopped = [&]() -> Task<void> {
    if (!s.nudged[i]) co_await nudge.async_wait(use_tuple);
  };
  if (e.limit.count() == 0) {
    co_await (ask() || stopped());
    co_return o;
  }
  auto r = co_await (ask() || stopped() || s.ctx.clock.sleep_until(s.start + e.limit));
  if (r.index() == 2 && std::get<2>(r))  // the window passed (not a cancelled sleep)
    o.call.error = make_error(Reason::timeout_total, "no answer within the race's window");
  co_return o;
}

}  // namespace

Task<ContestResult> run_contest(RouteContext& ctx, std::vector<Entrant> entrants,
                                ResponseWriter* stream_to,
                                std::function<bool(std::size_t, const CallResult&)> wins) {
  const auto executor = co_await net::this_coro::executor;
  State s(ctx, std::move(entrants), stream_to, executor);
  const std::size_t n = s.entrants.size();
  using Op = decltype(net::co_spawn(executor, run_entrant(s, 0), net::deferred));
  std::vector<Op> ops;
  ops.reserve(n);
  for (std::size_t i = 0; i < n; ++i)
    ops.push_back(net::co_spawn(executor, run_entrant(s, i), net::deferred));

  // Judges each call as it ends; the first winner cancels every other entrant.
  auto judge = [&s, &wins](const std::exception_ptr& thrown,
                           const Outcome& o) -> net::cancellation_type {
    if (thrown || o.index >= s.finished.size()) return net::cancellation_type::none;
    s.finished[o.index] = true;
    if (s.winner || s.started[o.index] == Start::never) return net::cancellation_type::none;
    // A call cancelled from outside (the client went away) wins nothing.
    if (!o.call.ok() && o.call.error->reason == Reason::cancelled)
      return net::cancellation_type::none;
    if (wins(o.index, o.call)) {
      s.decide(o.index);
      return net::cancellation_type::terminal;
    }
    if (!o.call.ok()) s.start_next();
    return net::cancellation_type::none;
  };
  auto [order, exceptions, outcomes] =
      co_await net::experimental::make_parallel_group(std::move(ops))
          .async_wait(judge, net::use_awaitable);

  ContestResult result;
  result.calls.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    result.calls.push_back(std::move(outcomes[i].call));
    if (exceptions[i]) {  // the calls report failures as results; this is a bug
      result.calls.back().target = s.entrants[i].target;
      result.calls.back().error = make_error(Reason::internal, "the call threw");
    }
  }
  result.started = std::move(s.started);
  result.winner = s.winner;
  co_return result;
}

Task<Result<void>> answer_with_winner(RouteContext& ctx, const ContestResult& result,
                                      ResponseWriter& out) {
  if (!result.winner) {
    Error last = make_error(Reason::upstream_saturated, "route has no candidates");
    for (const auto& call : result.calls)
      if (call.error && call.error->reason != Reason::cancelled) last = *call.error;
    co_return all_attempts_failed(ctx, std::move(last));
  }
  const CallResult& won = result.calls[*result.winner];
  if (won.committed || !won.ok()) co_return won.error ? Result<void>(*won.error) : Result<void>{};
  co_return co_await commit(ctx, won, out);
}

void count_contest(const ContestResult& result, const Metrics::WastedUsd& wasted) {
  for (std::size_t i = 0; i < result.calls.size(); ++i) {
    if (result.started[i] == Start::never) continue;
    const CallResult& c = result.calls[i];
    const bool won = result.winner == i;
    const bool lost = !won && (c.ok() || c.error->reason == Reason::cancelled);
    const std::size_t k = won ? 0 : lost ? 1 : 2;
    c.target->metrics->race_calls.inc(k, std::array{"won", "lost", "failed"}[k]);
    if (won || c.cost_usd <= 0) continue;
    // Unreported usage is counted from a stream's events (CallSink::usage; a stream's reply has
    // no body), or estimated from the sizes.
    const bool seen = c.usage.output_tokens > 0 && c.reply.body.empty();
    wasted[c.usage.reported ? 0 : seen ? 1 : 2]->Increment(c.cost_usd);
  }
}

}  // namespace switchyard

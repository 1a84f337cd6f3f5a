// Several calls for one request at once, for the dispatchers that race, hedge or vote: each
// call starts at its own time, the caller's judge picks the answer that wins, and the rest are
// cancelled the moment it does. Built on call() and call_streaming() (switchyard/extension.hpp).
#pragma once

#include "metrics/metrics.hpp"
#include "switchyard/extension.hpp"

#include <chrono>
#include <functional>
#include <optional>
#include <vector>

namespace switchyard {

// One call of a contest: `target`, started `delay` after the contest begins (kOnFailure: only
// as a fallback), and cancelled `limit` after it begins if it has not finished (zero: no
// limit). A waiting call starts at once when a call under way fails, as a fallback would;
// `may_hedge`, when set, is asked whether it may start at its delay (a budget of extra calls),
// and if not it waits for such a failure instead.
struct Entrant {
  static constexpr std::chrono::nanoseconds kOnFailure = std::chrono::nanoseconds::max();
  const Target* target = nullptr;
  std::chrono::nanoseconds delay{0};
  std::chrono::nanoseconds limit{0};
  std::function<bool()> may_hedge;
  CallOptions options{};  // for a call that is not streamed
};

// How each entrant started: not at all, at once (no delay), at its delay, or on a failure.
enum class Start : std::uint8_t { never, at_once, at_delay, on_failure };

// How a contest went, in the entrants' order. An entrant that never started has a cancelled
// error; one cut off by its limit has a timeout error. `winner` is the entrant the judge chose,
// or the streaming call that took the response; nullopt if none did.
struct ContestResult {
  std::vector<CallResult> calls;
  std::vector<Start> started;
  std::optional<std::size_t> winner;
};

// Runs `entrants` on the worker and returns when every call has ended. `wins` judges each call
// as it finishes, in the order they finish (errors too): true makes it the winner and cancels
// every other call at once (started or not). With `stream_to` (a streaming client), each call
// streams, and the first to have an event for the client takes the response and wins there
// and then: the others are cancelled before they write anything, and its answer streams
// straight through. Every call is billed in ctx.attempts as call() does. The entrants' targets
// and ctx outlive the contest. Cancellation (the client went away) reaches every call, and the
// contest still waits for all of them to end.
Task<ContestResult> run_contest(RouteContext& ctx, std::vector<Entrant> entrants,
                                ResponseWriter* stream_to,
                                std::function<bool(std::size_t, const CallResult&)> wins);

// Answers the client with the contest's winner: commits its answer, unless it streamed straight
// through, or returns its error (a 4xx the request earned); with no winner, the error of the
// failed calls (all_attempts_failed). Cancelled when the client goes away.
Task<Result<void>> answer_with_winner(RouteContext& ctx, const ContestResult& result,
                                      ResponseWriter& out);

// Counts a finished contest: each started call as won, lost (cancelled or beaten) or failed, by
// its model (ModelMetrics::race_calls), and what every call but the winner cost in `wasted`, by
// how it was billed (Metrics::WastedUsd).
void count_contest(const ContestResult& result, const Metrics::WastedUsd& wasted);

}  // namespace switchyard

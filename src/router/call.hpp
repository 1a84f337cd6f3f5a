// Calling an upstream and answering the client are two steps, shared by every dispatch strategy.
// call() sends the request to one target and returns the answer as data (a CallResult: the body
// or the buffered events, usage, cost, timings, the body it sent); commit() writes one result to
// the client, once per request, as Envoy's router marks its final upstream request. A cascade
// judges results before committing one, a race commits the first acceptable one and cancels the
// rest. call_streaming() fuses the two for dispatchers that want each token out as it arrives.
#pragma once

#include "router/snapshot.hpp"

namespace switchyard {

// Calls `target` and returns its answer without touching the response: a complete body, or a
// stream's events kept in order (at most the upstream's max_response_bytes of them). The call's
// AttemptRecord is appended to ctx.attempts when it starts and completed when it ends; its
// outcome is counted in the metrics. result.error is set when another candidate might answer
// better (connect, timeout, 5xx, 429, 401/403, saturation, an answer that is not JSON); an
// upstream 4xx that any candidate would give is an answer. Completes on the worker's executor;
// several calls may run at once on one RouteContext. Cancellation aborts the upstream call and
// the result's error is Reason::cancelled.
Task<CallResult> call(RouteContext& ctx, const Target& target);

// Like call(), but a 200 event stream is committed to `out` as it arrives, so the client's time
// to first token is the upstream's. Until the first event nothing is written, and a failure
// leaves the response to another candidate. After it (result.committed) the call owns the
// response: a failure reaches the client as an error event and the stream is ended either way.
// Any other answer is returned uncommitted, as call() returns it.
Task<CallResult> call_streaming(RouteContext& ctx, const Target& target, ResponseWriter& out);

// Writes an answer (result.ok(), not yet committed) to the client with the decision headers,
// usage and cost, and records it in ctx as the chosen target. Once per request; the caller owns
// `result` and keeps it alive until this completes. Returns Reason::cancelled once the client
// has gone away.
Task<Result<void>> commit(RouteContext& ctx, const CallResult& result, ResponseWriter& out);

// The x-switchyard-* decision headers, set just before the first byte goes out; `attempts` counts
// the upstream calls made for this response, the current one included.
void set_decision_headers(const RouteContext& ctx, ResponseWriter& out, std::size_t attempts);

// The error for a request whose every call failed: the last failure's status and reason, with
// each failed attempt in Error::attempts and listed in the message.
Error all_attempts_failed(const RouteContext& ctx, Error last);

}  // namespace switchyard

// One upstream call on behalf of a dispatcher, shared by every dispatch strategy: concurrency
// accounting, the body rewrite, relaying the answer (JSON or SSE) with the decision headers,
// usage and cost, metrics and the AttemptRecord.
#pragma once

#include "router/snapshot.hpp"

namespace switchyard {

// Calls `target` and, when it answers, writes that answer to `out`: a 2xx, or an upstream 4xx
// that another candidate would answer the same way (bad request, auth, …). Returns an error,
// and writes nothing, when the call failed in a way another candidate might not (connect,
// timeout, 5xx, 429, saturation) — unless a stream had already started, in which case the
// client has received an error event and the stream is closed. Completes on the worker's
// executor; cancellation aborts the upstream call and returns Reason::cancelled.
Task<Result<void>> attempt(RouteContext& ctx, const Target& target, ResponseWriter& out);

// The x-switchyard-* decision headers, set just before the first byte goes out; `attempts` counts
// the upstream calls made for this response, the current one included.
void set_decision_headers(const RouteContext& ctx, ResponseWriter& out, std::size_t attempts);

// Copies the upstream's end-to-end response headers (rate limits, x-sim-quality, …) to `out`.
void relay_upstream_headers(const UpstreamReply& reply, ResponseWriter& out);

// One error for a request whose every attempt failed: the last attempt's status and reason,
// with each attempt listed in order in the message.
Error aggregate_error(const RouteContext& ctx, Error last);

}  // namespace switchyard

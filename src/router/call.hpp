// Calling an upstream and answering the client are two steps, shared by every dispatch strategy
// and declared in switchyard/extension.hpp: call() returns an answer as data, commit() writes one
// to the client, once per request, as Envoy's router marks its final upstream request. A cascade
// judges results before committing one, a race commits the first acceptable one and cancels the
// rest. call_streaming() fuses the two for dispatchers that want each token out as it arrives.
#pragma once

#include "router/snapshot.hpp"
#include "switchyard/extension.hpp"

namespace switchyard {

// The x-switchyard-* decision headers, set just before the first byte goes out; `attempts` counts
// the upstream calls made for this response, the current one included.
void set_decision_headers(const RouteContext& ctx, ResponseWriter& out, std::size_t attempts);

// Sends a gateway's own `request` (a judge's prompt, an embeddings lookup) to `targets` in order
// until one answers with a 2xx, and returns that answer; otherwise why none did: the first
// non-2xx answer, a failure no other target would mend, or the last failure. Each call is billed
// to the request like any other. Cancelled with the request.
Task<Result<CallResult>> ask_in_order(RouteContext& ctx, const std::vector<const Target*>& targets,
                                      const ApiRequest& request);

// What the request's finished calls have cost, the answer's included: every call is billed.
double spent_usd(const RouteContext& ctx);

// Writes a response-cache hit (ctx.cache.hit) as the client first got it, with the decision
// headers, x-switchyard-cache: hit and a cost of 0. Cancelled when the client goes away.
Task<Result<void>> replay(RouteContext& ctx, const CachedAnswer& answer, ResponseWriter& out);

}  // namespace switchyard

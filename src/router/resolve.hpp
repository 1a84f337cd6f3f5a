// Which chain serves a request: the route its `model` names, a passthrough to a concrete model,
// or a 404.
#pragma once

#include "switchyard/router.hpp"

namespace switchyard {

class Dispatcher;

// Decides how `ctx.request` is served, from `ctx.snapshot` and `ctx.request.model`. If the model
// names a route, sets ctx.route to it (or, when the route splits traffic, to the arm this caller
// is in, with ctx.experiment set to the route) and runs that route's stages in order (the first that fails
// fails the request) and returns the route's dispatcher. If it names a concrete model, sets
// ctx.route to "passthrough" and ctx.candidates to every target serving that model, and returns
// the snapshot's passthrough dispatcher. Otherwise returns a not_found error (param "model") that
// lists the models and routes there are. Either way, candidates whose circuit breaker is open
// (switchyard/live.hpp: Breaker) then move behind the others, unless there is only
// one. The dispatcher belongs to the snapshot, which the request holds. Runs on the caller's thread; no I/O, so nothing to cancel.
Result<const Dispatcher*> resolve(RouteContext& ctx);

}  // namespace switchyard

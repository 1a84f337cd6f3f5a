// Writing a routing strategy: everything a stage or dispatcher author needs, in one header.
//
// A strategy is a RouterStage (narrows or reorders candidates, no I/O) or a Dispatcher (calls
// upstreams and answers the client), made by a factory from its YAML subtree when a snapshot is
// built, and registered by type name in src/router/builtins.cpp. A dispatcher calls upstreams with
// call() or call_streaming() and answers with commit(); see src/router/single for the smallest
// one and tests/unit/router for how to test one without sockets.
#pragma once

#include "switchyard/config.hpp"
#include "switchyard/router.hpp"

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace switchyard {

class Metrics;         // metrics/metrics.hpp
class ResponseCaches;  // router/cache/caches.hpp

// Narrows or reorders RouteContext::candidates, or fails the request. Does no I/O; shared by all
// workers, so apply() must not mutate the stage.
class RouterStage {
 public:
  virtual ~RouterStage() = default;
  virtual Result<void> apply(RouteContext& ctx) const = 0;
};

// The only part of the chain that calls upstreams. Shared by all workers and immutable; all
// per-request state lives in the RouteContext and the coroutine frame. On success it has written
// a complete response. On error, if nothing was written the session sends the error; if a stream
// had started the dispatcher has already ended it with an error event. Cancellation (the client
// hung up) propagates into the upstream calls, which drop their connections.
class Dispatcher {
 public:
  virtual ~Dispatcher() = default;
  virtual Task<Result<void>> dispatch(RouteContext& ctx, ResponseWriter& out) const = 0;
};

// What a dispatcher asks of a call beyond the client's request.
struct CallOptions {
  // Ask a chat upstream for token logprobs (a quality gate reads them) when the client's request
  // names none; commit() turns them back to null, as an answer that was not asked for them has.
  bool logprobs = false;
  // Ask a chat or completions upstream for this many choices ("n") when the client's request
  // names no n and is not streamed straight through; commit() keeps only the one the dispatcher
  // chose (CallResult::keep_choice). For an agreement gate that samples one model several times.
  std::uint32_t samples = 1;
  // Sends this request instead of the client's (a judge's own prompt; never streamed). The caller
  // owns it and keeps it alive until the call completes; its model is replaced by the target's.
  const ApiRequest* request = nullptr;
};

// Calls `target` and returns its answer without touching the response: a complete body, or a
// stream's events kept in order (at most the upstream's max_response_bytes of them). The call's
// AttemptRecord is appended to ctx.attempts when it starts and completed when it ends; its
// outcome is counted in the metrics. result.error is set when another candidate might answer
// better (connect, timeout, 5xx, 429, 401/403, saturation, an answer that is not JSON); an
// upstream 4xx that any candidate would give is an answer. Completes on the worker's executor;
// several calls may run at once on one RouteContext. Cancellation aborts the upstream call and
// the result's error is Reason::cancelled.
Task<CallResult> call(RouteContext& ctx, const Target& target, CallOptions options = {});

// Like call(), but a 200 event stream is committed to `out` as it arrives, so the client's time
// to first token is the upstream's. Until the first event nothing is written, and a failure
// leaves the response to another candidate. After it (result.committed) the call owns the
// response: a failure reaches the client as an error event and the stream is ended either way.
// Any other answer is returned uncommitted, as call() returns it.
Task<CallResult> call_streaming(RouteContext& ctx, const Target& target, ResponseWriter& out);

// Asks `target` for the client's answer the way `single` does: a stream passes straight through
// (call_streaming), any other answer is committed. `done` when the response is finished (written,
// or ended with an error event after it started) and `result` says how; otherwise nothing
// reached the client and `call.error` is why, which another candidate may mend if
// is_retryable(). Cancelled with the request.
struct Answered {
  bool done = false;
  Result<void> result = Result<void>{};
  CallResult call;
};
Task<Answered> answer_with(RouteContext& ctx, const Target& target, ResponseWriter& out);

// Calls every target at once and returns their results in the targets' order, when the last
// has finished (none at once, for no targets). Cancellation reaches every call.
Task<std::vector<CallResult>> call_all(RouteContext& ctx, std::vector<const Target*> targets,
                                       CallOptions options = {});

// Writes an answer (result.ok(), not yet committed) to the client with the decision headers,
// usage and cost, and records it in ctx as the chosen target. Once per request; the caller owns
// `result` and keeps it alive until this completes. Returns Reason::cancelled once the client
// has gone away.
Task<Result<void>> commit(RouteContext& ctx, const CallResult& result, ResponseWriter& out);

// The error for a request whose every call failed: the last failure's status and reason, with
// each failed attempt in Error::attempts and listed in the message.
Error all_attempts_failed(const RouteContext& ctx, Error last);

// What a factory sees of the configuration it is built into: its route and the targets of the
// models it names. Valid only during the factory call; the Targets it returns live as long as the
// snapshot, which outlives every stage and dispatcher built for it.
class BuildContext {
 public:
  virtual ~BuildContext() = default;
  virtual std::string_view route() const = 0;  // the route's name, or "passthrough"
  // Every upstream serving `model`, in config order, as targets of this route; empty if none.
  virtual std::vector<const Target*> targets_for(std::string_view model) = 0;
  virtual std::string_view model_list() const = 0;  // "a, b, c": the models, for messages
  // Where a dispatcher or stage gets the metric handles it counts on (metrics/metrics.hpp).
  virtual Metrics& metrics() = 0;
  // The gateway's response caches (a cache stage takes its route's), kept across reloads.
  virtual ResponseCaches& caches() = 0;
};

// A factory parses and validates its YAML subtree (StageConfig carries its path, e.g.
// "routes.auto.stages[0]") and returns the built object, or a config_error() whose message
// starts with the path of the offending key. Runs on the control thread.
template <class T>
using Built = Result<std::unique_ptr<const T>>;
using StageFactory = std::function<Built<RouterStage>(const StageConfig&, BuildContext&)>;
using DispatcherFactory = std::function<Built<Dispatcher>(const StageConfig&, BuildContext&)>;

// A configuration error from a factory: the reload fails with `message`, the running
// configuration stays.
Error config_error(std::string message);

// Registered by name; an unknown name stops the build with the config path in the message.
// Thread-safe; normally called once, from register_builtins().
void register_stage(std::string type, StageFactory factory);
void register_dispatcher(std::string type, DispatcherFactory factory);

}  // namespace switchyard

// One OpenAI API request (/v1/chat/completions, /v1/completions, /v1/embeddings), from the
// client's key to the access log line: auth, parse, route, dispatch, record.
#pragma once

#include "core/clock.hpp"
#include "router/clients.hpp"
#include "server/http_request.hpp"
#include "server/session_writer.hpp"
#include "server/worker_state.hpp"


#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace switchyard {

class Dispatcher;
struct ServerState;

// The API endpoint `path` (without its query string) names, if any.
std::optional<Endpoint> api_endpoint(std::string_view path);

// Serves one API request on the snapshot `view` holds, writing every outcome through `out`.
// Created by the connection loop once it has the request, the request id and an in-flight slot;
// lives on serve_api's frame, on the worker's executor. It holds `view` (so the snapshot and the
// worker's upstreams it was built for outlive the request) and owns the parsed request and its
// RouteContext; `st` and `out` are borrowed. run() may be cancelled at any await (the client hung
// up): the upstream call is abandoned and record() logs the request as 499.
class ApiCall {
 public:
  ApiCall(ServerState& st, std::shared_ptr<WorkerUpstreams> view, SessionWriter& out,
          Endpoint endpoint, std::string request_id)
      : st_(st), upstreams_(std::move(view)), snap_(upstreams_->snapshot.get()), out_(out),
        endpoint_(endpoint), request_id_(std::move(request_id)) {}

  // Checks the client's key, parses the body (taking it from `req`), resolves the route or
  // model and runs its dispatcher. The result is for the access log and metrics only, since
  // every outcome has been written to the client (or the client is gone).
  Task<void> run(HttpRequest& req);

  // Writes the access log record and the request's metrics; call once, after run() ended or
  // was cancelled. `start` is when the request's first byte arrived.
  void record(SteadyTime start);

 private:
  // Everything up to the dispatch, none of which waits: the key, the body, the limits the
  // client set, admission and the route. Null, with error_ set, when the request is refused.
  const Dispatcher* prepare(HttpRequest& req);
  const Dispatcher* refuse(Error e);

  ServerState& st_;
  std::shared_ptr<WorkerUpstreams> upstreams_;  // keeps the snapshot alive, too
  const Snapshot* snap_;
  SessionWriter& out_;
  Endpoint endpoint_;
  std::string request_id_;
  ApiRequest request_;
  const Client* client_ = nullptr;  // the caller's key; null when no keys are configured
  bool admitted_ = false;           // its account took the request: charge it in record()
  std::uint64_t estimated_tokens_ = 0;
  std::optional<RouteContext> ctx_;
  std::optional<Error> error_;
};

}  // namespace switchyard

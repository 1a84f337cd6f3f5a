// One client connection: the HTTP/1.1 keep-alive loop, its limits and timeouts, and the choice
// of who answers each request (server/api_call.hpp, server/admin.hpp).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

namespace switchyard {

class Metrics;
struct ServerState;
struct WorkerState;

// Creates every series of switchyard_client_protocol_errors_total at 0, so that rate() sees the
// first refused request. Control plane, once per Metrics.
void count_protocol_errors_from_zero(Metrics& metrics);

// What a listener serves: the API and the admin endpoints, or (server.admin_listen) only
// /healthz, /readyz, /metrics and /v1/models; anything else there is a 404.
enum class Serves { everything, admin_only };

// Serves one connection until the peer closes it, a limit or timeout ends it, or the gateway
// drains. Owns the socket; `state` and `worker` outlive it. Runs on the worker's executor. Each
// request runs on the snapshot current when its headers arrived. While an API request is served
// it also watches the socket: a client that hangs up cancels the request, and its upstream call.
// Holds one of server.max_connections for its whole life and, per API request, one of
// server.max_concurrent_requests, both released however it ends (a return, an exception, or the
// worker destroying the coroutine).
boost::asio::awaitable<void> run_session(boost::asio::ip::tcp::socket socket, ServerState& state,
                                         WorkerState& worker, Serves serves = Serves::everything);

}  // namespace switchyard

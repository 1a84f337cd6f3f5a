#include "server/session.hpp"

#include "core/clock.hpp"
#include "core/log_limiter.hpp"
#include "core/sha256.hpp"
#include "core/socket_deadline.hpp"
#include "server/admin.hpp"
#include "server/api_call.hpp"
#include "server/feedback.hpp"
#include "server/gateway.hpp"
#include "server/request_reader.hpp"
#include "server/session_writer.hpp"
#include "server/worker_state.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <random>

#include <sys/socket.h>

namespace switchyard {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using ms = std::chrono::milliseconds;

namespace {

constexpr auto use_tuple = net::as_tuple(net::use_awaitable);

// A request id: the client's if it is sane, else 32 hex digits.
std::string request_id_for(std::string_view client, WorkerState& w) {
  if (!client.empty() && client.size() <= 128 &&
      std::all_of(client.begin(), client.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' ||
               c == ':';
      }))
    return std::string(client);
  thread_local std::mt19937_64 rng{std::random_device{}()};
  const std::uint64_t halves[] = {rng(), ++w.request_counter};
  char bytes[16];  // big-endian, so that the hex reads as the two numbers
  for (int i = 0; i < 16; ++i) bytes[i] = static_cast<char>(halves[i / 8] >> (56 - 8 * (i % 8)));
  return to_hex({bytes, sizeof bytes});
}

// Watches a client connection while its request is served, without a coroutine of its own:
// when the client hangs up (EOF or a reset), emits terminal cancellation on the signal the
// connection's coroutine is bound to, so that the upstream call stops. Bytes that arrive
// meanwhile (a pipelined next request) are kept in the session's buffer, bounded; past that
// bound it stops watching. Owned by the connection's coroutine, which must disarm() it before
// reading the next request. Disarming does not cancel the pending wait: it ends when the next
// request's bytes come, just ahead of the session's read, which the reactor then tries at once
// rather than first on its own (cancelling costs a round of the event loop, the read a system
// call). A handler that runs disarmed, or after the connection is gone, touches nothing but the
// shared state that says so; at most one wait is pending.
class PeerWatch {
 public:
  PeerWatch(tcp::socket& socket, beast::flat_buffer& buffer, net::cancellation_signal& signal)
      : state_(std::make_shared<State>(socket, buffer, signal)) {}
  PeerWatch(const PeerWatch&) = delete;
  PeerWatch& operator=(const PeerWatch&) = delete;
  ~PeerWatch() { disarm(); }

  void arm() {
    if (state_->buffer.size() >= kMaxPipelined) return;  // as if it stopped watching at once
    state_->armed = true;
    if (!state_->waiting) watch(state_);
  }
  void disarm() { state_->armed = false; }
  bool peer_gone() const { return state_->gone; }

 private:
  struct State {
    State(tcp::socket& s, beast::flat_buffer& b, net::cancellation_signal& c)
        : socket(s), buffer(b), signal(c) {}
    tcp::socket& socket;
    beast::flat_buffer& buffer;
    net::cancellation_signal& signal;
    bool armed = false, gone = false, waiting = false;
  };

  static constexpr std::size_t kMaxPipelined = 64 * 1024;

  static void watch(const std::shared_ptr<State>& state) {
    state->waiting = true;
    state->socket.async_wait(tcp::socket::wait_read, [state](beast::error_code ec) {
      State& s = *state;
      s.waiting = false;
      if (ec || !s.armed) return;
      auto space = s.buffer.prepare(kMaxPipelined - s.buffer.size());
      const auto n = ::recv(s.socket.native_handle(), space.data(), space.size(), MSG_DONTWAIT);
      if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
        s.gone = true;
        s.armed = false;
        s.signal.emit(net::cancellation_type::terminal);
        return;
      }
      if (n > 0) s.buffer.commit(static_cast<std::size_t>(n));
      if (s.buffer.size() < kMaxPipelined) watch(state);
    });
  }

  std::shared_ptr<State> state_;
};

// Close politely after an error: stop sending, then read and drop what the client is still
// sending (bounded), so that it sees our answer rather than a reset.
Task<void> lingering_close(beast::tcp_stream& stream) {
  beast::error_code ec;
  stream.socket().shutdown(tcp::socket::shutdown_send, ec);
  char sink[16 * 1024];
  std::size_t total = 0;
  stream.expires_after(std::chrono::seconds(2));  // for the whole drain, not per read
  while (total < (4u << 20)) {
    auto [rec, n] = co_await stream.async_read_some(net::buffer(sink), use_tuple);
    if (rec) break;
    total += n;
  }
  stream.socket().close(ec);
}

LogLimiter protocol_log(std::chrono::seconds(10));

// Logs a request rejected at the HTTP layer, at most once per 10 s across the process.
void log_protocol_error(std::string_view what, const tcp::socket& socket) {
  if (auto dropped = protocol_log.allow()) {
    beast::error_code ec;
    auto peer = socket.remote_endpoint(ec);
    spdlog::warn("rejected a request from {}: {}{}", ec ? "?" : peer.address().to_string(), what,
                 *dropped ? fmt::format(" ({} more since the last such line)", *dropped) : "");
  }
}

// Counts a connection for server.max_connections for as long as it lives.
class ConnectionSlot {
 public:
  explicit ConnectionSlot(ServerState& st) : st_(st) {
    count_ = st_.connections.fetch_add(1, std::memory_order_relaxed) + 1;
    st_.metrics.connections().Increment();
  }
  ~ConnectionSlot() {
    st_.connections.fetch_sub(1, std::memory_order_relaxed);
    st_.metrics.connections().Decrement();
  }
  ConnectionSlot(const ConnectionSlot&) = delete;
  ConnectionSlot& operator=(const ConnectionSlot&) = delete;
  std::uint32_t count() const { return count_; }

 private:
  ServerState& st_;
  std::uint32_t count_;
};

// One of server.max_concurrent_requests, held for as long as an API call runs and released
// however it ends (a return, an exception, the worker destroying the coroutine).
class InFlightSlot {
 public:
  InFlightSlot(ServerState& st, std::uint32_t max) : st_(st) {
    ok_ = st_.in_flight.fetch_add(1, std::memory_order_relaxed) < max;
    if (ok_) st_.metrics.in_flight().Increment();
  }
  ~InFlightSlot() {
    st_.in_flight.fetch_sub(1, std::memory_order_relaxed);
    if (ok_) st_.metrics.in_flight().Decrement();
  }
  InFlightSlot(const InFlightSlot&) = delete;
  InFlightSlot& operator=(const InFlightSlot&) = delete;
  bool ok() const { return ok_; }

 private:
  ServerState& st_;
  bool ok_;
};

// Makes room for a new connection over server.max_connections by closing this worker's oldest
// idle keep-alive connection. Returns false when there is none: the new connection must go.
bool shed_oldest_idle(WorkerState& w, ServerState& st) {
  if (w.idle.empty()) return false;
  IdleConnection& oldest = w.idle.front();
  w.idle.pop_front();
  beast::error_code ec;
  oldest.socket->close(ec);  // its session's pending read ends with operation_aborted
  st.metrics.connections_shed_idle().Increment();
  return true;
}

}  // namespace

void count_protocol_errors_from_zero(Metrics& metrics) {
  for (auto r = Refusal::transfer_encoding; r <= Refusal::malformed;
       r = static_cast<Refusal>(static_cast<int>(r) + 1))
    metrics.protocol_errors().inc(static_cast<std::uint64_t>(r), refusal_name(r), 0);
}

namespace {

using Request = HttpRequest;

// The coroutines below are split by path so that each frame holds only its own locals (GCC gives
// every local of a coroutine its own slot in the frame, branch or not): what a connection keeps
// while it waits, or while a stream it serves is idle for minutes, is the connection's frame and
// the API call's, and nothing of the rarer paths.

// Reads the next request off the connection. One that cannot be read is answered (4xx) and the
// connection closed; nullopt then, as when the client is gone.
Task<std::optional<Request>> next_request(beast::tcp_stream& stream, beast::flat_buffer& buffer,
                                          ServerState& st, WorkerState& w,
                                          const ServerConfig& sc) {
  HttpRequest req;
  auto read = co_await read_request(stream, buffer, req, sc);
  if (read.gone) co_return std::nullopt;
  if (read.refusal != Refusal::none && read.refusal != Refusal::limit) {
    st.metrics.protocol_errors().inc(static_cast<std::uint64_t>(read.refusal),
                                     refusal_name(read.refusal));
    log_protocol_error(read.detail, stream.socket());
  }
  if (!read.failed) co_return std::move(req);
  SessionWriter out(stream, req.version(), false, ms(sc.body_timeout_ms), req.method() == "HEAD");
  out.set_header("x-request-id", request_id_for({}, w));
  (void)co_await send_error(out, read.error);
  st.metrics.count_unrouted(read.error.status);
  co_await lingering_close(stream);
  co_return std::nullopt;
}

// Serves a POST to an API endpoint. False when the client hung up meanwhile: the connection is
// done.
Task<bool> serve_api(ServerState& st, std::shared_ptr<WorkerUpstreams> view, SessionWriter& out,
                     Endpoint endpoint, std::string id, Request& req, PeerWatch& watch,
                     SteadyTime start) {
  const std::uint32_t max = view->snapshot->config.server.max_concurrent_requests;
  InFlightSlot slot(st, max);
  if (!slot.ok()) {
    (void)co_await send_error(
        out, make_error(Reason::too_many_requests,
                        fmt::format("The gateway is at server.max_concurrent_requests ({}).",
                                    max)));
    st.metrics.count_unrouted(429);
    co_return true;
  }
  ApiCall call(st, std::move(view), out, endpoint, std::move(id));
  // The client hanging up meanwhile cancels the call (and the upstream's with it).
  watch.arm();
  co_await call.run(req);
  watch.disarm();
  call.record(start);
  co_return !watch.peer_gone();
}

// 405, with the methods `path` allows and the one to use.
Task<void> refuse_method(SessionWriter& out, std::string_view allow, std::string_view use,
                         std::string_view path) {
  out.set_header("allow", allow);
  (void)co_await send_error(out, make_error(Reason::method_not_allowed,
                                            fmt::format("Use {} for {}", use, path)));
}

// Everything but an API call: the admin endpoints, feedback, and the answers to a wrong method
// or an unknown path.
Task<void> serve_other(ServerState& st, const Snapshot& snap, Serves serves, SessionWriter& out,
                       const Request& req, std::string_view path) {
  const auto method = req.method();
  if (is_admin_path(path)) {
    if (method == "GET" || method == "HEAD")
      co_await serve_admin(path, st, snap, out, req["authorization"]);
    else
      co_await refuse_method(out, "GET, HEAD", "GET", path);
  } else if (serves == Serves::admin_only) {
    (void)co_await send_error(out, make_error(Reason::not_found,
                                              fmt::format("Unknown path on the admin listener: {}",
                                                          path)));
  } else if (path == "/v1/feedback") {
    if (method == "POST")
      co_await serve_feedback(st, snap, out, req["authorization"], req.body);
    else
      co_await refuse_method(out, "POST", "POST", path);
  } else if (api_endpoint(path)) {
    co_await refuse_method(out, "POST", "POST", path);  // a POST is an API call, not served here
  } else {
    (void)co_await send_error(
        out, make_error(Reason::not_found, fmt::format("Unknown path: {}", path)));
  }
}

// One connection's requests, in order, until it closes. Bound to `hangup`, which its PeerWatch
// emits when the client goes away in the middle of a request.
Task<void> serve_connection(tcp::socket socket, ServerState& st, WorkerState& w, Serves serves,
                            net::cancellation_signal& hangup) {
  co_await net::this_coro::throw_if_cancelled(false);
  ConnectionSlot slot(st);
  // Probes on the admin listener are never refused: a busy pod must not look dead.
  if (serves == Serves::everything && slot.count() > w.current->snapshot->max_connections &&
      !shed_oldest_idle(w, st)) {
    st.metrics.connections_refused().Increment();
    co_return;  // closes the socket: better than holding a descriptor nobody will serve
  }
  beast::tcp_stream stream(std::move(socket));
  beast::flat_buffer buffer;
  SocketDeadline keep_alive_limit(stream.socket());
  PeerWatch watch(stream.socket(), buffer, hangup);
  for (;;) {
    // Idle between requests: the keep-alive timeout. Once a byte arrives, the header and body
    // limits take over (read_request).
    if (buffer.size() == 0) {
      IdleConnection idle(stream.socket());
      w.idle.push_back(idle);
      keep_alive_limit.expires_at(steady_now() +
                                  ms(w.current->snapshot->config.server.idle_timeout_ms));
      auto [ec, n] = co_await stream.socket().async_read_some(buffer.prepare(4096), use_tuple);
      if (keep_alive_limit.end(ec)) co_return;
      buffer.commit(n);
    }
    const auto start = steady_now();
    auto view = w.current;  // this request's config and upstreams, whatever reloads happen
    const ServerConfig& sc = view->snapshot->config.server;
    auto req = co_await next_request(stream, buffer, st, w, sc);
    if (!req) co_return;
    // A stream can last minutes: its connection keeps no read buffer meanwhile (4 KB or more).
    if (buffer.size() == 0) buffer.shrink_to_fit();
    const bool keep_alive = req->keep_alive() && !st.draining.load(std::memory_order_relaxed);
    SessionWriter out(stream, req->version(), keep_alive, ms(sc.body_timeout_ms),
                      req->method() == "HEAD");
    const auto target = req->target();
    const auto path = target.substr(0, target.find('?'));
    auto id = request_id_for((*req)["x-request-id"], w);
    out.set_header("x-request-id", id);
    const auto endpoint = serves == Serves::everything && req->method() == "POST"
                              ? api_endpoint(path)
                              : std::nullopt;
    if (endpoint) {
      const bool stays = co_await serve_api(st, std::move(view), out, *endpoint, std::move(id),
                                            *req, watch, start);
      if (!stays) co_return;
    } else {
      co_await serve_other(st, *view->snapshot, serves, out, *req, path);
    }

    if (!out.started() || out.broken() || !out.keep_alive()) {
      beast::error_code ec;
      stream.socket().shutdown(tcp::socket::shutdown_send, ec);
      co_return;
    }
  }
}

}  // namespace

net::awaitable<void> run_session(tcp::socket socket, ServerState& st, WorkerState& w,
                                 Serves serves) {
  net::cancellation_signal hangup;
  co_await net::co_spawn(co_await net::this_coro::executor,
                         serve_connection(std::move(socket), st, w, serves, hangup),
                         net::bind_cancellation_slot(hangup.slot(), net::use_awaitable));
}

}  // namespace switchyard

#include "server/session.hpp"

#include "api/request.hpp"
#include "core/clock.hpp"
#include "core/log_limiter.hpp"
#include "router/call.hpp"
#include "server/access_log.hpp"
#include "server/request_reader.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
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
using namespace net::experimental::awaitable_operators;

namespace {

constexpr auto use_tuple = net::as_tuple(net::use_awaitable);

std::string pool_key(const UpstreamRuntime& u) {
  return u.config->name + '\n' + u.config->base_url + '\n' + u.config->tls.ca_file + '\n' +
         (u.config->tls.insecure_skip_verify ? "1" : "0") + '\n' +
         std::to_string(u.config->pool_size) + '\n' + std::to_string(u.config->pool_idle_timeout_ms);
}

// A request id: the client's if it is sane, else 32 hex digits.
std::string request_id_for(std::string_view client, WorkerState& w) {
  if (!client.empty() && client.size() <= 128 &&
      std::all_of(client.begin(), client.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' ||
               c == ':';
      }))
    return std::string(client);
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return fmt::format("{:016x}{:016x}", rng(), ++w.request_counter);
}

// Client headers the OpenAI API defines, passed on to the upstream; every other client header
// stays at the gateway.
constexpr std::string_view kForwardedClientHeaders[] = {"OpenAI-Beta", "OpenAI-Organization",
                                                        "OpenAI-Project"};

bool constant_time_equal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char d = 0;
  for (std::size_t i = 0; i < a.size(); ++i) d |= static_cast<unsigned char>(a[i] ^ b[i]);
  return d == 0;
}

bool authorized(const Snapshot& snap, std::string_view header) {
  if (snap.api_keys.empty()) return true;
  // The scheme is case-insensitive (RFC 7235); the key is not.
  if (header.size() < 7 || !beast::iequals(header.substr(0, 7), "bearer ")) return false;
  auto key = header.substr(7);
  bool ok = false;
  for (const auto& k : snap.api_keys) ok |= constant_time_equal(k, key);
  return ok;
}

// The client side of one HTTP exchange. Every write is bounded by the write timeout so a client
// that stops reading cannot hold a worker's memory forever.
class SessionWriter final : public ResponseWriter {
 public:
  // HTTP/1.0 clients get no chunked framing and no keep-alive: a stream ends at close. A HEAD
  // request gets the headers a GET would, and no body.
  SessionWriter(beast::tcp_stream& stream, unsigned version, bool keep_alive, ms write_timeout,
                bool head_only = false)
      : stream_(stream), version_(version), keep_alive_(keep_alive && version >= 11),
        chunked_(version >= 11), head_only_(head_only), timeout_(write_timeout) {}

  void set_header(std::string_view name, std::string_view value) override {
    fields_.set(name, value);
  }
  void set_trailer(std::string_view name, std::string_view value) override {
    trailers_.set(name, value);
  }

  Task<Result<void>> send(int status, std::string_view content_type,
                          std::string_view body) override {
    status_ = status;
    started_ = true;
    stream_.expires_after(timeout_);
    // 1xx, 204 and 304 have no body and no Content-Length (RFC 9110 §8.6, §15.3.5).
    const bool bodiless = status < 200 || status == 204 || status == 304;
    if (bodiless || head_only_) {
      http::response<http::empty_body> res{static_cast<http::status>(status), version_};
      for (const auto& f : fields_) res.set(f.name_string(), f.value());
      if (!bodiless) {
        res.set(http::field::content_type, content_type);
        res.content_length(body.size());
      }
      res.keep_alive(keep_alive_);
      auto [ec, n] = co_await http::async_write(stream_, res, use_tuple);
      co_return check(ec);
    }
    http::response<http::span_body<const char>> res{static_cast<http::status>(status), version_};
    for (const auto& f : fields_) res.set(f.name_string(), f.value());
    res.set(http::field::content_type, content_type);
    res.keep_alive(keep_alive_);
    res.body() = beast::span<const char>(body.data(), body.size());
    res.prepare_payload();
    auto [ec, n] = co_await http::async_write(stream_, res, use_tuple);
    co_return check(ec);
  }

  Task<Result<void>> begin_stream() override {
    http::response<http::empty_body> res{http::status::ok, version_};
    for (const auto& f : fields_) res.set(f.name_string(), f.value());
    res.set(http::field::content_type, "text/event-stream");
    res.set(http::field::cache_control, "no-cache");
    res.keep_alive(keep_alive_);
    res.chunked(chunked_);
    status_ = 200;
    started_ = true;
    http::response_serializer<http::empty_body> sr{res};
    stream_.expires_after(timeout_);
    auto [ec, n] = co_await http::async_write_header(stream_, sr, use_tuple);
    co_return check(ec);
  }

  Task<Result<void>> write_event(std::string_view event) override {
    stream_.expires_after(timeout_);
    net::const_buffer data(event.data(), event.size());
    beast::error_code ec;
    if (chunked_)
      std::tie(ec, std::ignore) =
          co_await net::async_write(stream_, http::make_chunk(data), use_tuple);
    else
      std::tie(ec, std::ignore) = co_await net::async_write(stream_, data, use_tuple);
    co_return check(ec);
  }

  Task<Result<void>> end_stream() override {
    if (!chunked_) co_return Result<void>{};
    stream_.expires_after(timeout_);
    auto [ec, n] = co_await net::async_write(stream_, http::make_chunk_last(trailers_), use_tuple);
    co_return check(ec);
  }

  bool keep_alive() const { return keep_alive_; }

  bool started() const override { return started_; }
  int status() const { return status_; }
  bool broken() const { return broken_; }

 private:
  Result<void> check(const beast::error_code& ec) {
    stream_.expires_never();
    if (!ec) return {};
    broken_ = true;
    return make_error(Reason::cancelled, "client connection lost: " + ec.message());
  }

  beast::tcp_stream& stream_;
  unsigned version_;
  bool keep_alive_;
  bool chunked_;
  bool head_only_;
  ms timeout_;
  http::fields fields_, trailers_;
  bool started_ = false;
  bool broken_ = false;
  int status_ = 0;
};

Task<Result<void>> send_error(SessionWriter& out, const Error& e) {
  if (e.retry_after_ms) {
    auto ms_value = std::min<std::uint32_t>(e.retry_after_ms, 60'000);
    out.set_header("retry-after", std::to_string((ms_value + 999) / 1000));
    out.set_header("retry-after-ms", std::to_string(ms_value));
  }
  co_return co_await out.send(e.status, "application/json", to_openai_json(e));
}

// Completes when the client hangs up (EOF or reset) while its request is being served. Bytes
// that arrive meanwhile (a pipelined next request) are kept in the session's buffer, bounded;
// past that bound this stops watching and waits to be cancelled.
Task<void> wait_peer_gone(tcp::socket& socket, beast::flat_buffer& buffer) {
  co_await net::this_coro::throw_if_cancelled(false);
  constexpr std::size_t kMaxPipelined = 64 * 1024;
  while (buffer.size() < kMaxPipelined) {
    auto [ec] = co_await socket.async_wait(tcp::socket::wait_read, use_tuple);
    if (ec == net::error::operation_aborted) co_return;
    if (ec) co_return;
    auto space = buffer.prepare(kMaxPipelined - buffer.size());
    auto n = ::recv(socket.native_handle(), space.data(), space.size(), MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) co_return;
    if (n > 0) buffer.commit(static_cast<std::size_t>(n));
  }
  net::steady_timer forever(co_await net::this_coro::executor, SteadyTime::max());
  co_await forever.async_wait(use_tuple);
}

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

class ApiCall {
 public:
  ApiCall(ServerState& st, std::shared_ptr<WorkerUpstreams> view, SessionWriter& out,
          Endpoint endpoint, std::string request_id)
      : st_(st), upstreams_(std::move(view)), snap_(upstreams_->snapshot.get()), out_(out),
        endpoint_(endpoint), request_id_(std::move(request_id)) {}

  // Serves the request; the result is for the access log and metrics only, since every outcome
  // has been written to the client (or the client is gone).
  Task<void> run(http::request<http::string_body>& req) {
    co_await net::this_coro::throw_if_cancelled(false);
    if (!authorized(*snap_, req[http::field::authorization])) {
      co_return co_await fail(make_error(Reason::unauthorized,
                                         "Incorrect API key provided. Pass a key configured in "
                                         "server.api_keys as 'Authorization: Bearer <key>'."));
    }
    BodyLimits limits;
    limits.capture_last_input = snap_->config.server.log_prompts;
    auto parsed = parse_api_request(endpoint_, std::move(req.body()), limits);
    if (!parsed) co_return co_await fail(parsed.error());
    request_ = std::move(*parsed);
    request_.request_id = request_id_;
    for (auto name : kForwardedClientHeaders)
      if (auto v = req[name]; !v.empty()) request_.headers.emplace_back(name, v);

    const Dispatcher* dispatcher = nullptr;
    ctx_.emplace(*snap_, request_, *upstreams_);
    if (auto r = snap_->routes.find(request_.model); r != snap_->routes.end()) {
      ctx_->route = r->second.name;
      for (const auto& stage : r->second.stages)
        if (auto res = stage->apply(*ctx_); !res) co_return co_await fail(res.error());
      dispatcher = r->second.dispatcher.get();
    } else if (auto m = snap_->models.find(request_.model); m != snap_->models.end()) {
      ctx_->route = "passthrough";
      ctx_->candidates = m->second;
      dispatcher = snap_->passthrough.get();
    } else {
      co_return co_await fail(make_error(
          Reason::not_found,
          "The model '" + request_.model + "' does not exist. Available models and routes: " +
              snap_->model_list + ".",
          "model"));
    }
    auto r = co_await dispatcher->dispatch(*ctx_, out_);
    if (!r) {
      error_ = r.error();
      if (!out_.started() && r.error().reason != Reason::cancelled) {
        set_decision_headers(*ctx_, out_, ctx_->attempts.size());
        (void)co_await send_error(out_, r.error());
      }
    }
  }

  void record(SteadyTime start) {
    const auto elapsed = steady_now() - start;
    const int status = out_.started() ? out_.status() : 499;
    const int logged = out_.broken() || (error_ && error_->reason == Reason::cancelled) ? 499 : status;
    AccessRecord rec;
    rec.request_id = request_id_;
    rec.status = logged;
    rec.duration = elapsed;
    if (ctx_) {
      rec.route = ctx_->route;
      rec.attempts = static_cast<unsigned>(ctx_->attempts.size());
      auto upstream_time = std::chrono::nanoseconds(0);
      for (const auto& a : ctx_->attempts) upstream_time += a.duration;
      if (!ctx_->attempts.empty())
        st_.metrics.overhead().observe(seconds(elapsed - upstream_time));
      if (const Target* t = ctx_->chosen) {
        rec.model = t->model->name;
        rec.upstream = t->upstream_config->name;
        rec.usage = ctx_->usage;
        rec.cost_usd = ctx_->cost_usd;
        rec.ttft = ctx_->time_to_first_token;
        const ModelMetrics& mm = *t->metrics;
        mm.requests_by_code.inc(static_cast<std::uint64_t>(logged), std::to_string(logged));
        if (logged < 400) {
          mm.cost_usd->Increment(ctx_->cost_usd);
          mm.input_tokens->observe(static_cast<double>(ctx_->usage.input_tokens));
          mm.output_tokens->observe(static_cast<double>(ctx_->usage.output_tokens));
          mm.duration->observe(seconds(elapsed));
          if (request_.stream && ctx_->time_to_first_token.count() >= 0)
            mm.ttft->observe(seconds(ctx_->time_to_first_token));
        }
      } else if (!ctx_->candidates.empty()) {
        // Every candidate failed: count it against the route's first choice.
        ctx_->candidates.front()->metrics->requests_by_code.inc(
            static_cast<std::uint64_t>(logged), std::to_string(logged));
      } else {
        st_.metrics.count_unrouted(logged);
      }
    } else {
      st_.metrics.count_unrouted(logged);
    }
    if (error_) rec.error = reason_name(error_->reason);
    if (ctx_) rec.prompt = request_.last_input;
    log_access(rec);
  }

 private:
  Task<void> fail(Error e) {
    error_ = e;
    (void)co_await send_error(out_, e);
  }

  ServerState& st_;
  std::shared_ptr<WorkerUpstreams> upstreams_;  // keeps the snapshot alive, too
  const Snapshot* snap_;
  SessionWriter& out_;
  Endpoint endpoint_;
  std::string request_id_;
  ApiRequest request_;
  std::optional<RouteContext> ctx_;
  std::optional<Error> error_;
};

bool is_admin_path(std::string_view path) {
  return path == "/healthz" || path == "/readyz" || path == "/metrics" || path == "/v1/models" ||
         path.starts_with("/v1/models/");
}

// Admin and discovery endpoints (GET and HEAD): cheap, no routing. `path` has no query string.
Task<void> serve_admin(std::string_view path, ServerState& st, const Snapshot& snap,
                       SessionWriter& out, std::string_view authorization) {
  if (path == "/healthz") {
    (void)co_await out.send(200, "application/json", R"({"status":"ok"})");
  } else if (path == "/readyz") {
    if (st.draining.load(std::memory_order_relaxed))
      (void)co_await send_error(out, make_error(Reason::draining, "draining: shutting down"));
    else
      (void)co_await out.send(200, "application/json", R"({"status":"ready"})");
  } else if (path == "/metrics") {
    auto text = st.metrics.serialize();
    (void)co_await out.send(200, "text/plain; version=0.0.4; charset=utf-8", text);
  } else if (!authorized(snap, authorization)) {
    (void)co_await send_error(out, make_error(Reason::unauthorized, "Incorrect API key provided."));
  } else if (path == "/v1/models") {
    (void)co_await out.send(200, "application/json", snap.models_json);
  } else {
    auto id = path.substr(11);
    auto it = snap.model_objects.find(std::string(id));
    if (it != snap.model_objects.end()) {
      (void)co_await out.send(200, "application/json", it->second);
    } else {
      auto e = make_error(Reason::not_found, "The model '" + std::string(id) + "' does not exist.",
                          "model");
      (void)co_await send_error(out, e);
    }
  }
}

std::optional<Endpoint> api_endpoint(std::string_view path) {
  if (path == "/v1/chat/completions") return Endpoint::chat_completions;
  if (path == "/v1/completions") return Endpoint::completions;
  if (path == "/v1/embeddings") return Endpoint::embeddings;
  return std::nullopt;
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

void WorkerState::install(std::shared_ptr<const Snapshot> snap) {
  auto view = std::make_shared<WorkerUpstreams>();
  std::unordered_map<std::string, std::shared_ptr<ConnectionPool>> next;
  for (const auto& u : snap->upstreams) {
    auto key = pool_key(*u);
    auto it = pools.find(key);
    auto pool = it != pools.end() ? it->second : make_connection_pool(*u);
    next[key] = pool;
    view->upstreams_.push_back(make_http_upstream(io, *u, pool));
  }
  view->snapshot = std::move(snap);
  pools = std::move(next);
  current = std::move(view);
}

net::awaitable<void> sweep_idle_connections(WorkerState& w) {
  co_await net::this_coro::throw_if_cancelled(false);
  net::steady_timer timer(w.io);
  for (;;) {
    timer.expires_after(std::chrono::seconds(1));
    if (auto [ec] = co_await timer.async_wait(use_tuple); ec) co_return;
    for (auto& [key, pool] : w.pools) evict_idle_connections(*pool);
  }
}

net::awaitable<void> run_session(tcp::socket socket, ServerState& st, WorkerState& w) {
  co_await net::this_coro::throw_if_cancelled(false);
  ConnectionSlot slot(st);
  if (slot.count() > w.current->snapshot->max_connections && !shed_oldest_idle(w, st)) {
    st.metrics.connections_refused().Increment();
    co_return;  // closes the socket: better than holding a descriptor nobody will serve
  }
  beast::tcp_stream stream(std::move(socket));
  beast::flat_buffer buffer;
  for (;;) {
    // Idle between requests: the keep-alive timeout. Once a byte arrives, the header timeout.
    if (buffer.size() == 0) {
      IdleConnection idle(stream.socket());
      w.idle.push_back(idle);
      stream.expires_after(ms(w.current->snapshot->config.server.idle_timeout_ms));
      auto [ec, n] = co_await stream.async_read_some(buffer.prepare(4096), use_tuple);
      if (ec) co_return;
      buffer.commit(n);
      stream.expires_never();  // the header and body limits take over (read_request)
    }
    const auto start = steady_now();
    auto view = w.current;  // this request's config and upstreams, whatever reloads happen
    const Snapshot* snap = view->snapshot.get();
    const auto& sc = snap->config.server;
    http::request_parser<http::string_body> parser;
    parser.header_limit(sc.max_header_bytes);
    parser.body_limit(sc.max_body_bytes);

    auto read = co_await read_request(stream, buffer, parser, sc);
    if (read.gone) co_return;
    if (read.refusal != Refusal::none && read.refusal != Refusal::limit) {
      st.metrics.protocol_errors().inc(static_cast<std::uint64_t>(read.refusal),
                                       refusal_name(read.refusal));
      log_protocol_error(read.detail, stream.socket());
    }
    stream.expires_never();
    const ms write_timeout(sc.body_timeout_ms);

    if (read.failed) {
      SessionWriter out(stream, parser.get().version() ? parser.get().version() : 11, false,
                        write_timeout, parser.get().method() == http::verb::head);
      out.set_header("x-request-id", request_id_for({}, w));
      (void)co_await send_error(out, read.error);
      st.metrics.count_unrouted(read.error.status);
      co_await lingering_close(stream);
      co_return;
    }

    auto req = parser.release();
    const bool draining = st.draining.load(std::memory_order_relaxed);
    const bool keep_alive = req.keep_alive() && !draining;
    const auto method = req.method();
    SessionWriter out(stream, req.version(), keep_alive, write_timeout,
                      method == http::verb::head);
    const auto target = req.target();
    const auto path = target.substr(0, target.find('?'));
    auto id = request_id_for(req["x-request-id"], w);
    out.set_header("x-request-id", id);

    if (is_admin_path(path)) {
      if (method == http::verb::get || method == http::verb::head) {
        co_await serve_admin(path, st, *snap, out, req[http::field::authorization]);
      } else {
        out.set_header("allow", "GET, HEAD");
        (void)co_await send_error(
            out, make_error(Reason::method_not_allowed, "Use GET for " + std::string(path)));
      }
    } else if (auto endpoint = api_endpoint(path)) {
      if (method != http::verb::post) {
        out.set_header("allow", "POST");
        (void)co_await send_error(
            out, make_error(Reason::method_not_allowed, "Use POST for " + std::string(path)));
      } else {
        InFlightSlot slot(st, sc.max_concurrent_requests);
        if (!slot.ok()) {
          auto e = make_error(Reason::too_many_requests,
                              fmt::format("The gateway is at server.max_concurrent_requests ({}).",
                                          sc.max_concurrent_requests));
          (void)co_await send_error(out, e);
          st.metrics.count_unrouted(429);
        } else {
          ApiCall call(st, view, out, *endpoint, std::move(id));
          // Whichever finishes first wins: serving the request, or the client hanging up, which
          // cancels the upstream call.
          co_await (call.run(req) || wait_peer_gone(stream.socket(), buffer));
          call.record(start);
        }
      }
    } else {
      auto e = make_error(Reason::not_found, "Unknown path: " + std::string(path));
      (void)co_await send_error(out, e);
    }

    if (!out.started() || out.broken() || !out.keep_alive()) {
      beast::error_code ec;
      stream.socket().shutdown(tcp::socket::shutdown_send, ec);
      co_return;
    }
  }
}

}  // namespace switchyard

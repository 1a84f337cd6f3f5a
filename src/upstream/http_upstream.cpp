#include "upstream/http_upstream.hpp"

#include "core/cancelled.hpp"
#include "core/clock.hpp"
#include "core/http1.hpp"
#include "core/http_head.hpp"
#include "core/socket_deadline.hpp"
#include "core/write_now.hpp"
#include "upstream/retry_after.hpp"
#include "upstream/sse.hpp"
#include "upstream/upstream_runtime.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <fmt/format.h>

#include <array>
#include <bit>
#include <charconv>
#include <deque>
#include <optional>
#include <variant>

#include <sys/socket.h>

namespace switchyard {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;
using namespace std::chrono_literals;

namespace {

constexpr auto use_tuple = net::as_tuple(net::use_awaitable);
constexpr std::size_t kMaxErrorBodyBytes = 1 << 20;  // a non-2xx answer to a stream request

// A connection's read buffer: a flat_buffer whose reads grow fourfold while each fills what it
// was given (the upstream had more to send), up to 64 KB, and otherwise are sized to what the
// last read got (rounded up to a power of two, at least 512 bytes); a buffer more than twice
// that size is handed back once it holds no more than that. A burst of events or a long answer
// takes a few reads, not one per 512 bytes (and one write to the client each), a TLS stream's
// reads settle at its record size, and an idle stream's pending read holds about what its
// events need. (A first read of 4 KB, to take most answers whole, cost 3.3 KB per held stream:
// every exchange holds it from its request until the answer.) Beast's reads ask
// read_size_helper, found by argument-dependent lookup, how much to read, and call the prepare
// and commit below on this type.
class ReadBuffer : public beast::flat_buffer {
 public:
  mutable_buffers_type prepare(std::size_t n) {
    prepared_ = n;
    return beast::flat_buffer::prepare(n);
  }
  void commit(std::size_t n) {
    beast::flat_buffer::commit(n);
    next_ = n == prepared_ ? std::min(prepared_ * 4, kMaxRead)
                           : std::max(kMinRead, std::bit_ceil(n));
  }
  friend std::size_t read_size_helper(ReadBuffer& b, std::size_t max_size) {
    // A chunked stream leaves a chunk's CRLF unparsed between events: size() is rarely 0.
    if (b.capacity() > 2 * b.next_ && b.size() <= b.next_) b.shrink_to_fit();
    return std::min({std::max(b.next_, b.capacity() - b.size()), max_size,
                     b.max_size() - b.size()});
  }

 private:
  static constexpr std::size_t kMinRead = 512, kMaxRead = 64 * 1024;
  std::size_t prepared_ = 0, next_ = kMinRead;
};

// Watches a pooled connection while it is idle, as nginx's upstream keepalive does: a wait for
// the socket to become readable, which while the connection is idle can only mean that the peer
// closed it or sent bytes unasked (a second answer, a body longer than its Content-Length), which
// the next request would otherwise read as its own answer. Either makes the connection unusable.
// Owned by its Connection; arm() when the connection goes idle, take() when it is taken for a
// request. Taking does not cancel the wait (cancelling costs a round of the event loop): it ends
// when the answer's first bytes come, and the exchange's first read, queued behind it, is tried
// only then rather than at once (which would cost a system call that finds nothing). A handler
// that runs while the connection is in use, or after it is gone, touches only the shared state;
// at most one wait is pending.
class IdleWatch {
 public:
  explicit IdleWatch(tcp::socket& socket) : state_(std::make_shared<State>(socket)) {}
  IdleWatch(const IdleWatch&) = delete;
  IdleWatch& operator=(const IdleWatch&) = delete;
  ~IdleWatch() { state_->socket = nullptr; }

  void arm() {
    state_->idle = true;
    if (!state_->waiting) watch(state_);
  }
  // False if the peer closed the connection or sent bytes while it was idle.
  bool take() {
    state_->idle = false;
    return !state_->dead;
  }

 private:
  struct State {
    explicit State(tcp::socket& s) : socket(&s) {}
    tcp::socket* socket;  // null once the connection is gone
    bool idle = false, waiting = false, dead = false;
  };

  static void watch(const std::shared_ptr<State>& state) {
    state->waiting = true;
    state->socket->async_wait(tcp::socket::wait_read, [state](const beast::error_code& ec) {
      State& s = *state;
      s.waiting = false;
      if (ec || !s.socket || !s.idle) return;  // closed, gone, or the answer to a request
      char c;
      const ssize_t n = ::recv(s.socket->native_handle(), &c, 1, MSG_PEEK | MSG_DONTWAIT);
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
        watch(state);  // woken for nothing
        return;
      }
      s.dead = true;
    });
  }

  std::shared_ptr<State> state_;
};

struct Connection {
  using Plain = beast::tcp_stream;
  using Tls = beast::ssl_stream<beast::tcp_stream>;

  explicit Connection(net::io_context& io)
      : stream(std::in_place_type<Plain>, io),
        deadline(lowest().socket()),
        idle_watch(lowest().socket()) {}
  Connection(net::io_context& io, ssl::context& ctx)
      : stream(std::in_place_type<Tls>, io, ctx),
        deadline(lowest().socket()),
        idle_watch(lowest().socket()) {}

  beast::tcp_stream& lowest() {
    return std::visit([](auto& s) -> beast::tcp_stream& { return beast::get_lowest_layer(s); },
                      stream);
  }

  std::variant<Plain, Tls> stream;
  SocketDeadline deadline;  // of an exchange's reads and writes (connect: the stream's expiry)
  IdleWatch idle_watch;     // while pooled
  ReadBuffer buffer;
  std::string head;  // the head of the request being sent, its capacity kept for the next
  SteadyTime idle_since{};
};

// Whether the client may see this upstream response header: an allowlist, because an upstream's
// cookies, auth challenges, CORS, HSTS, Alt-Svc and redirects describe the upstream, not the
// gateway, and would mislead or endanger the client. `extra`: the upstream's relay_headers.
bool relayed(std::string_view name, const std::vector<std::string>& extra) {
  static constexpr std::string_view kPrefixes[] = {"x-ratelimit-", "openai-", "x-sim-",
                                                   "anthropic-ratelimit-"};
  static constexpr std::string_view kNames[] = {"x-amzn-requestid", "request-id", "cf-ray",
                                                "x-envoy-upstream-service-time"};
  auto starts = [&](std::string_view p) {
    return name.size() >= p.size() && beast::iequals(name.substr(0, p.size()), p);
  };
  for (auto p : kPrefixes)
    if (starts(p)) return true;
  for (auto n : kNames)
    if (beast::iequals(name, n)) return true;
  for (const auto& e : extra) {
    if (!e.empty() && e.back() == '*') {
      if (starts(std::string_view(e).substr(0, e.size() - 1))) return true;
    } else if (beast::iequals(name, e)) {
      return true;
    }
  }
  return false;
}

// Parses an upstream's answer straight into `reply` (core/http1.hpp): the status, the headers
// the gateway reads (the content type, the request id, the retry delays) and those it relays.
// The headers it reads are not relayed (the gateway answers with its own), nor are those named
// in Connection, which are hop-by-hop (RFC 9110 §7.6.1), even when allowlisted. The body goes
// to `sse` when the owner sets one (a 2xx event stream, handed on as it is parsed rather than
// kept, which a held stream would do for minutes), else into reply.body, up to `limit` bytes:
// past it the parse fails with body_limit. The owner sets `sse` or `limit` once the head is
// read.
class ReplyParser {
 public:
  explicit ReplyParser(const std::vector<std::string>& relay) : relay_(relay) {}

  UpstreamReply reply;
  SseSplitter* sse = nullptr;
  std::size_t limit = SIZE_MAX;

  // Whether put() goes on into the body once it has the head.
  void eager(bool on) { eager_ = on; }
  bool got_some() const { return got_some_; }
  bool is_header_done() const { return header_done_; }
  bool is_done() const { return header_done_ && body_.done(); }
  bool keep_alive() const { return head_.keep_alive; }

  // Parses what it can of `in`; returns the bytes it used. need_more: the head is not all in.
  std::size_t put(net::const_buffer in, beast::error_code& ec) {
    const std::string_view bytes(static_cast<const char*>(in.data()), in.size());
    got_some_ = got_some_ || !bytes.empty();
    std::size_t used = 0;
    if (!header_done_) {
      used = http1::head_end(bytes, scanned_);
      if (used == 0 || used > kMaxHead) {
        ec = used == 0 && bytes.size() <= kMaxHead ? http::error::need_more
                                                   : http::error::header_limit;
        return 0;
      }
      ec = http1::parse_response_head(bytes.substr(0, used), head_,
                                      [this](std::string_view n, std::string_view v) {
                                        field(n, v);
                                      });
      if (ec) return 0;
      header_done_ = true;
      reply.status = head_.status;
      on_header();
      body_.start(head_.framing, head_.length);
      if (!eager_ || body_.done()) return used;
    }
    return used + body_.put(bytes.substr(used), [this](std::string_view b) { return take(b); },
                            ec);
  }

  // Call once the head is in and `sse` or `limit` set, before the body: body_limit if the
  // head declared a body longer than `limit`, else room for it.
  beast::error_code start_body() {
    if (head_.framing != http1::Framing::length || sse) return {};
    if (head_.length > limit) return http::error::body_limit;
    reply.body.reserve(head_.length);
    return {};
  }

  // The end of the stream: the end of a body that has no length, else a message cut short.
  void put_eof(beast::error_code& ec) {
    ec = header_done_ ? body_.eof() : beast::error_code(http::error::partial_message);
  }

 private:
  static constexpr std::size_t kMaxHead = 8 * 1024;  // as Beast's parser had it

  void field(std::string_view name, std::string_view value) {
    const auto first = [&](std::string& to, bool& seen) {
      if (!std::exchange(seen, true)) to.assign(value);
    };
    using http1::detail::iequals;
    switch (name.size()) {  // one comparison at most before the allowlist
      case 10:
        if (iequals(name, "connection")) return (void)connection_.append(value).push_back(',');
        break;
      case 11:
        if (iequals(name, "retry-after")) return first(retry_after_, seen_retry_);
        break;
      case 12:
        if (iequals(name, "content-type")) return first(reply.content_type, seen_type_);
        if (iequals(name, "x-request-id")) return first(reply.upstream_request_id, seen_id_);
        break;
      case 14:
        if (iequals(name, "retry-after-ms")) return first(retry_after_ms_, seen_retry_ms_);
        break;
      default: break;
    }
    if (relayed(name, relay_)) reply.headers.emplace_back(name, value);
  }

  void on_header() {
    if (seen_retry_ || seen_retry_ms_)
      reply.retry_after_ms = retry_after_ms(retry_after_ms_, retry_after_,
                                            std::chrono::system_clock::now());
    if (connection_.empty()) return;
    for (const auto& token : http::token_list(connection_))
      std::erase_if(reply.headers, [&](const auto& h) { return beast::iequals(h.first, token); });
  }

  bool take(std::string_view bytes) {
    if (sse) {
      sse->feed(bytes);
    } else if (reply.body.size() + bytes.size() <= limit) {
      reply.body.append(bytes);
    } else {
      return false;
    }
    return true;
  }

  const std::vector<std::string>& relay_;
  http1::Head head_;
  http1::BodyDecoder body_;
  std::size_t scanned_ = 0;  // of the head, for head_end
  std::string retry_after_, retry_after_ms_, connection_;
  bool got_some_ = false, header_done_ = false, eager_ = false;
  bool seen_type_ = false, seen_id_ = false, seen_retry_ = false, seen_retry_ms_ = false;
};

}  // namespace

class ConnectionPool {
 public:
  explicit ConnectionPool(const UpstreamRuntime& u)
      : max_idle_(u.config->pool_size),
        idle_timeout_(std::chrono::milliseconds(u.config->pool_idle_timeout_ms)) {}

  // A connection the peer closed while it was idle, or whose close has not yet been seen, costs
  // no more than call()'s retry on a fresh one; bytes it sent unasked are what IdleWatch is for.
  // Like nginx's, the watch misses bytes whose readiness the event loop has not yet handled when
  // the connection is taken (they arrived in the same round): those would be read as the answer.
  // A look at each connection as it is taken (a MSG_PEEK recv) narrowed that window to the
  // moment between the look and the request's arrival upstream, for a system call a request;
  // an upstream that sends unasked bytes is broken either way, and it was judged not worth it.
  std::unique_ptr<Connection> take() {
    auto now = steady_now();
    while (!idle_.empty()) {
      auto c = std::move(idle_.back());  // most recently used: warmest, least likely closed
      idle_.pop_back();
      if (c->idle_watch.take() && now - c->idle_since < idle_timeout_) return c;
    }
    return nullptr;
  }

  void give(std::unique_ptr<Connection> c) {
    // Unread bytes would be answered to the next request: never pool such a connection.
    if (max_idle_ == 0 || c->buffer.size() != 0) return;
    c->idle_since = steady_now();
    c->idle_watch.arm();
    if (idle_.size() >= max_idle_) idle_.pop_front();  // drop the coldest
    idle_.push_back(std::move(c));
  }

  void evict_expired() {
    auto now = steady_now();
    // Oldest first: stop at the first connection that is still fresh.
    while (!idle_.empty() && now - idle_.front()->idle_since >= idle_timeout_) idle_.pop_front();
  }

  // Resolved addresses, reused for a while so that DNS is off the per-request path.
  const tcp::resolver::results_type* cached_endpoints() const {
    return endpoints_ && steady_now() - resolved_at_ < kDnsTtl ? &*endpoints_ : nullptr;
  }
  void cache_endpoints(tcp::resolver::results_type r) {
    endpoints_ = std::move(r);
    resolved_at_ = steady_now();
  }

 private:
  static constexpr std::chrono::seconds kDnsTtl{30};
  std::size_t max_idle_;
  std::chrono::nanoseconds idle_timeout_;
  std::deque<std::unique_ptr<Connection>> idle_;  // oldest at the front
  std::optional<tcp::resolver::results_type> endpoints_;
  SteadyTime resolved_at_{};
};

std::shared_ptr<ConnectionPool> make_connection_pool(const UpstreamRuntime& upstream) {
  return std::make_shared<ConnectionPool>(upstream);
}

void evict_idle_connections(ConnectionPool& pool) { pool.evict_expired(); }

namespace {

// The absolute end of one phase: its own limit, cut short by the call's total deadline.
struct Phase {
  SteadyTime until;
  Reason reason;
};

bool stale_connection_error(const beast::error_code& ec) {
  return ec == http::error::end_of_stream || ec == net::error::eof ||
         ec == net::error::connection_reset || ec == net::error::broken_pipe ||
         ec == net::ssl::error::stream_truncated;
}

// Parses what `buffer` holds into `p` and drops the bytes it used, without a read: the head and
// no more unless `p` is eager. need_more is not an error: the caller reads more. A parser already
// done (a head that says there is no body, with bytes after it) is left alone.
beast::error_code parse_buffered(ReplyParser& p, ReadBuffer& buffer) {
  beast::error_code ec;
  if (buffer.size() > 0 && !p.is_done()) buffer.consume(p.put(buffer.data(), ec));
  return ec == http::error::need_more ? beast::error_code{} : ec;
}

// One read into a connection's buffer: straight from the socket when the connection is plain
// (tcp_stream's own operation adds nothing: the exchange's deadline is the connection's
// SocketDeadline), through TLS otherwise. The caller commits what was read.
template <class Stream>
auto read_some(Stream& s, ReadBuffer& buffer) {
  const auto space = buffer.prepare(beast::read_size(buffer, 64 * 1024));
  if constexpr (std::is_same_v<Stream, Connection::Plain>)
    return s.socket().async_read_some(space, use_tuple);
  else
    return s.async_read_some(space, use_tuple);
}

// What the end of the stream means to `p`: end_of_stream before any byte (a pooled connection
// the peer closed), else the end of a body that has no length (no error) or partial_message.
beast::error_code at_eof(ReplyParser& p) {
  if (!p.got_some()) return http::error::end_of_stream;
  beast::error_code ec;
  p.put_eof(ec);
  return ec;
}

// Parses what `conn` has buffered into `p`, reading more until `p` has its head, or with
// `whole` (and an eager parser) the whole answer: Beast's async_read without its composed
// operation; the end of the stream as at_eof() says.
template <class Stream>
Task<beast::error_code> read_parse(Stream& s, Connection& conn, ReplyParser& p, bool whole) {
  beast::error_code ec = parse_buffered(p, conn.buffer);
  while (!ec && !(whole ? p.is_done() : p.is_header_done())) {
    auto [rec, n] = co_await read_some(s, conn.buffer);
    conn.buffer.commit(n);
    if (rec == net::error::eof) co_return at_eof(p);
    if (rec) co_return rec;
    ec = parse_buffered(p, conn.buffer);
  }
  co_return ec;
}

class HttpUpstream final : public Upstream {
 public:
  HttpUpstream(net::io_context& io, const UpstreamRuntime& rt, std::shared_ptr<ConnectionPool> p)
      : io_(io), rt_(rt), cfg_(*rt.config), pool_(std::move(p)) {
    append_header(fixed_fields_, "Host", rt_.url.host_header);
    append_header(fixed_fields_, "User-Agent", "switchyard/" SWITCHYARD_VERSION);
    append_header(fixed_fields_, "Content-Type", "application/json");
    if (!rt_.authorization.empty())
      append_header(fixed_fields_, "Authorization", rt_.authorization);
  }

  Task<Result<UpstreamReply>> complete(const OutboundRequest& req) override {
    return call(req, nullptr);
  }
  Task<Result<UpstreamReply>> stream(const OutboundRequest& req, ChunkSink& sink) override {
    return call(req, &sink);
  }

 private:
  using ms = std::chrono::milliseconds;

  static Phase phase(SteadyTime own_end, Reason reason, SteadyTime deadline) {
    if (deadline <= own_end) return {deadline, Reason::timeout_total};
    return {own_end, reason};
  }

  // `io` is the reason for a transport failure; a timeout, a parse failure (bytes that are not
  // HTTP) and an answer over max_response_bytes each have their own. The message names the
  // upstream by its config name, never by address: it can reach the client.
  Error fail(const beast::error_code& ec, Reason timeout_reason, Reason io) const {
    // Beast reports a clean close before any byte as end_of_stream: a connection failure,
    // like a reset, not bytes that are not HTTP.
    Reason r = ec == beast::error::timeout               ? timeout_reason
               : ec == net::error::operation_aborted     ? Reason::cancelled
               : ec == http::error::body_limit           ? Reason::response_too_large
               : ec == http::error::end_of_stream        ? io
               : ec.category() == http_error_category()  ? Reason::protocol
                                                         : io;
    return make_error(r, std::string(reason_name(r)) + " (upstream " + cfg_.name +
                             "): " + ec.message());
  }

  static const boost::system::error_category& http_error_category() {
    return http::make_error_code(http::error::bad_version).category();
  }

  Error cancelled_error() const {
    return make_error(Reason::cancelled, "cancelled (" + cfg_.name + ")");
  }

  Task<Result<std::unique_ptr<Connection>>> connect(SteadyTime deadline) {
    std::unique_ptr<Connection> c = rt_.tls ? std::make_unique<Connection>(io_, *rt_.tls)
                                            : std::make_unique<Connection>(io_);
    auto ph = phase(steady_now() + ms(cfg_.connect_timeout_ms), Reason::timeout_connect, deadline);
    beast::error_code ec;
    auto ip = net::ip::make_address(rt_.url.host, ec);
    const bool is_ip = !ec;
    tcp::resolver::results_type endpoints;
    if (is_ip) {
      endpoints = tcp::resolver::results_type::create(
          tcp::endpoint(ip, static_cast<unsigned short>(std::stoul(rt_.url.port))), rt_.url.host,
          rt_.url.port);
    } else if (auto* cached = pool_->cached_endpoints()) {
      endpoints = *cached;
    } else {
      // getaddrinfo cannot be interrupted; connect_timeout_ms applies from here on.
      tcp::resolver resolver(io_);
      auto [rec, found] = co_await resolver.async_resolve(rt_.url.host, rt_.url.port, use_tuple);
      if (cancelled(co_await net::this_coro::cancellation_state)) co_return cancelled_error();
      if (rec) co_return fail(rec, ph.reason, Reason::connect);
      pool_->cache_endpoints(found);
      endpoints = std::move(found);
    }
    c->lowest().expires_at(ph.until);
    auto [cec, ep] = co_await c->lowest().async_connect(endpoints, use_tuple);
    if (cancelled(co_await net::this_coro::cancellation_state)) co_return cancelled_error();
    if (cec) co_return fail(cec, ph.reason, Reason::connect);
    c->lowest().socket().set_option(tcp::no_delay(true), ec);
    if (auto* tls = std::get_if<Connection::Tls>(&c->stream)) {
      // SNI for name-based virtual hosts, and verification that the certificate is for this host.
      if (!is_ip && !SSL_set_tlsext_host_name(tls->native_handle(), rt_.url.host.c_str()))
        co_return make_error(Reason::tls, "tls (upstream " + cfg_.name + "): cannot set SNI");
      if (!cfg_.tls.insecure_skip_verify)
        tls->set_verify_callback(ssl::host_name_verification(rt_.url.host));
      auto [hec] = co_await tls->async_handshake(ssl::stream_base::client, use_tuple);
      if (cancelled(co_await net::this_coro::cancellation_state)) co_return cancelled_error();
      if (hec) co_return fail(hec, ph.reason, Reason::tls);
    }
    c->lowest().expires_never();  // the exchanges' deadlines are the connection's own
    co_return std::move(c);
  }

  // Sends the request: its head, written as text into a buffer the connection keeps, and the
  // body from the caller's string, in one write.
  template <class Stream>
  Task<beast::error_code> write(Stream& s, Connection& conn, const OutboundRequest& req) {
    std::string& head = conn.head;
    head.assign("POST ").append(rt_.url.prefix).append(req.path).append(" HTTP/1.1\r\n");
    head.append(fixed_fields_);
    append_header(head, "Accept", req.stream ? "text/event-stream" : "application/json");
    if (!req.request_id.empty()) append_header(head, "x-request-id", req.request_id);
    for (const auto& [name, value] : req.headers) append_header(head, name, value);
    const fmt::format_int length(req.body.size());
    append_header(head, "Content-Length", {length.data(), length.size()});
    head.append("\r\n");
    const std::array<net::const_buffer, 2> buffers{net::buffer(head), net::buffer(req.body)};
    if constexpr (std::is_same_v<Stream, Connection::Plain>) {
      co_return co_await write_now(s, buffers);
    } else {
      auto [ec, n] = co_await net::async_write(s, buffers, use_tuple);
      co_return ec;
    }
  }

  Task<Result<UpstreamReply>> call(const OutboundRequest& req, ChunkSink* sink) {
    co_await net::this_coro::throw_if_cancelled(false);
    const auto start = steady_now();
    const auto deadline = start + ms(cfg_.total_timeout_ms);
    // A pooled connection may have been closed by the peer while we wrote; one retry on a fresh
    // connection covers that race, as long as no response byte came back.
    for (int round = 0;; ++round) {
      std::unique_ptr<Connection> conn = round == 0 ? pool_->take() : nullptr;
      const bool reused = conn != nullptr;
      if (!conn) {
        auto c = co_await connect(deadline);
        if (!c) co_return c.error();
        conn = std::move(*c);
      }
      auto r = co_await std::visit(
          [&](auto& s) { return exchange(s, *conn, req, sink, start, deadline, reused); },
          conn->stream);
      if (r.retry_on_fresh && round == 0) {
        // Not inside &&: GCC 12 and co_await.
        const bool stop = cancelled(co_await net::this_coro::cancellation_state);
        if (!stop) continue;
      }
      if (r.result && r.keep_alive) pool_->give(std::move(conn));
      co_return std::move(r.result);
    }
  }

  struct Exchange {
    Result<UpstreamReply> result;
    bool keep_alive = false;
    bool retry_on_fresh = false;
  };

  // Reads response headers, skipping interim 1xx answers (e.g. 103 Early Hints). Returns the
  // failed exchange, or nullopt once `p` holds a final head. A failure that looks like a pooled
  // connection the peer had closed, before any byte of an answer (an interim one included),
  // asks for one retry on a fresh connection: after a byte, the upstream may have taken the
  // request, and a second one could be billed twice.
  template <class Stream>
  Task<std::optional<Exchange>> read_head(Stream& s, Connection& conn,
                                          std::optional<ReplyParser>& p, const Phase& first,
                                          bool reused) {
    for (bool interim = false;; interim = true) {
      p.emplace(cfg_.relay_headers);
      p->limit = cfg_.max_response_bytes;
      conn.deadline.expires_at(first.until);
      const auto ec = conn.deadline.end(co_await read_parse(s, conn, *p, false));
      if (cancelled(co_await net::this_coro::cancellation_state))
        co_return Exchange{cancelled_error()};
      if (ec)
        co_return Exchange{fail(ec, first.reason, Reason::connect), false,
                           reused && !interim && !p->got_some() && stale_connection_error(ec)};
      const int status = p->reply.status;
      // A gateway never switches protocols on the client's behalf.
      if (status == 101)
        co_return Exchange{make_error(Reason::protocol, "protocol (upstream " + cfg_.name +
                                                            "): answered 101 Switching Protocols")};
      if (status < 100 || status >= 200) co_return std::nullopt;
    }
  }

  template <class Stream>
  Task<Exchange> exchange(Stream& s, Connection& conn, const OutboundRequest& req, ChunkSink* sink,
                          SteadyTime start, SteadyTime deadline, bool reused) {
    // Until the first token: the response headers, and for a stream its first complete event.
    const auto first = phase(start + ms(cfg_.first_token_timeout_ms),
                             Reason::timeout_first_token, deadline);
    conn.deadline.expires_at(first.until);
    if (auto ec = conn.deadline.end(co_await write(s, conn, req))) {
      if (cancelled(co_await net::this_coro::cancellation_state))
        co_return Exchange{cancelled_error()};
      co_return Exchange{fail(ec, first.reason, Reason::connect), false,
                         reused && ec != beast::error::timeout};
    }
    if (cancelled(co_await net::this_coro::cancellation_state))
      co_return Exchange{cancelled_error()};

    std::optional<ReplyParser> p;
    if (auto failed = co_await read_head(s, conn, p, first, reused)) co_return std::move(*failed);
    UpstreamReply& reply = p->reply;
    if (!sink) {
      reply.first_byte = steady_now() - start;
      p->eager(true);
      auto bec = p->start_body();
      if (!bec) bec = parse_buffered(*p, conn.buffer);  // a short answer came with its head
      if (!bec && !p->is_done()) {
        conn.deadline.expires_at(deadline);
        bec = conn.deadline.end(co_await read_parse(s, conn, *p, true));
        if (cancelled(co_await net::this_coro::cancellation_state))
          co_return Exchange{cancelled_error()};
      }
      if (bec) co_return Exchange{fail(bec, Reason::timeout_total, Reason::protocol)};
      co_return Exchange{std::move(reply), p->keep_alive()};
    }

    const bool is_sse = reply.status / 100 == 2 &&
                        std::string_view(reply.content_type).starts_with("text/event-stream");
    if (reply.status / 100 == 2 && !is_sse) {
      // A stream was asked for and a body came back: the client's SDK would see no events and
      // end silently. Treat it as a bad answer so that another candidate can be tried.
      co_return Exchange{make_error(
          Reason::protocol, "protocol (upstream " + cfg_.name +
                                "): answered a stream request without SSE")};
    }
    SseSplitter sse;
    if (is_sse) {
      sink->on_head(reply);
      p->sse = &sse;
    } else {  // an error, bounded
      p->limit = std::min<std::uint64_t>(kMaxErrorBodyBytes, cfg_.max_response_bytes);
    }
    const auto too_large = [&] {
      return Exchange{make_error(Reason::response_too_large, "response_too_large (upstream " +
                                                                 cfg_.name +
                                                                 "): error body over 1 MiB")};
    };
    p->eager(true);
    if (p->start_body()) co_return too_large();
    bool first_event = true;
    for (;;) {
      // The events before a framing error still go out, as the bytes arrived whole.
      const beast::error_code parsed = parse_buffered(*p, conn.buffer);
      if (is_sse) {
        for (auto ev = sse.next(); !ev.empty(); ev = sse.next()) {
          if (first_event) {
            reply.first_byte = steady_now() - start;
            first_event = false;
          }
          if (auto r = sink->on_event(ev); !r) co_return Exchange{r.error()};
        }
        if (sse.overflowed())
          co_return Exchange{make_error(Reason::protocol, "protocol (upstream " + cfg_.name +
                                                              "): an SSE event over 1 MiB")};
      }
      if (parsed == http::error::body_limit) co_return too_large();
      if (parsed) co_return Exchange{fail(parsed, Reason::protocol, Reason::protocol)};
      // After the last read, the caller's end of the stream writes what the sink keeps, with
      // the trailer: one write for both.
      if (p->is_done()) break;
      if (is_sse) {
        if (auto r = co_await sink->on_pause(); !r) co_return Exchange{r.error()};
      }
      auto step = first_event ? first
                              : phase(steady_now() + ms(cfg_.idle_stream_timeout_ms),
                                      Reason::timeout_idle_stream, deadline);
      conn.deadline.expires_at(step.until);
      auto [rec, n] = co_await read_some(s, conn.buffer);
      auto ec = conn.deadline.end(rec);
      if (cancelled(co_await net::this_coro::cancellation_state))
        co_return Exchange{cancelled_error()};
      conn.buffer.commit(n);
      if (ec == net::error::eof) ec = at_eof(*p);  // a body without a length ends so
      if (ec) co_return Exchange{fail(ec, step.reason, Reason::protocol)};
    }
    if (is_sse && sse.pending() > 0) {
      // A stream that ends inside an event was cut, not finished.
      co_return Exchange{make_error(Reason::protocol, "protocol (upstream " + cfg_.name +
                                                          "): the stream ended mid-event")};
    }
    co_return Exchange{std::move(reply), p->keep_alive()};
  }

  net::io_context& io_;
  const UpstreamRuntime& rt_;
  const UpstreamConfig& cfg_;
  std::string fixed_fields_;  // the head's lines that are the same on every request
  std::shared_ptr<ConnectionPool> pool_;
};

}  // namespace

std::unique_ptr<Upstream> make_http_upstream(net::io_context& io, const UpstreamRuntime& runtime,
                                             std::shared_ptr<ConnectionPool> pool) {
  return std::make_unique<HttpUpstream>(io, runtime, std::move(pool));
}

}  // namespace switchyard

// Reading one HTTP/1.1 request off a client connection: limits, timeouts and the framing rules
// that keep requests from being smuggled. A template over the stream so that the fuzzer drives
// the same code through beast::test::stream; included only by the session and the fuzz target.
#pragma once

#include "core/http_parse.hpp"
#include "switchyard/config.hpp"
#include "switchyard/error.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <string>
#include <string_view>

namespace switchyard {

// Why a request was refused at the HTTP layer, for the metric and the log line.
enum class Refusal : std::uint8_t { none, limit, transfer_encoding, chunked_body, host, malformed };

// The metric label of a refusal (switchyard_client_protocol_errors_total{kind}).
constexpr std::string_view refusal_name(Refusal r) {
  switch (r) {
    case Refusal::none: return "none";
    case Refusal::limit: return "limit";
    case Refusal::transfer_encoding: return "transfer_encoding";
    case Refusal::chunked_body: return "chunked_body";
    case Refusal::host: return "host";
    case Refusal::malformed: return "malformed";
  }
  return "malformed";
}

// The outcome of reading one request. `gone`: the client closed or reset the connection and
// there is nobody to answer. Otherwise either the request is in the parser, or `error` is the
// answer to send before closing the connection (the stream is no longer in a known state).
struct RequestRead {
  bool gone = false;
  bool failed = false;
  Error error;
  Refusal refusal = Refusal::none;
  std::string detail;  // for the log: what exactly was wrong
};

namespace detail {

namespace http = boost::beast::http;

// RFC 9112 §6.3: the only transfer coding accepted on a request is a lone "chunked", on
// HTTP/1.1, without Content-Length. Anything else (xchunked, "chunked, identity", gzip, a second
// Transfer-Encoding line, both framings at once) is how requests get smuggled past a front proxy
// that reads the framing differently.
inline bool acceptable_framing(const http::request_header<>& h) {
  const auto te_lines = h.count(http::field::transfer_encoding);
  if (te_lines == 0) return true;
  if (te_lines > 1 || h.version() < 11 || h.count(http::field::content_length)) return false;
  auto te = h[http::field::transfer_encoding];
  while (!te.empty() && (te.front() == ' ' || te.front() == '\t')) te.remove_prefix(1);
  while (!te.empty() && (te.back() == ' ' || te.back() == '\t')) te.remove_suffix(1);
  return boost::beast::iequals(te, "chunked");
}

// RFC 9112 §3.2: exactly one Host on HTTP/1.1, at most one on HTTP/1.0.
inline bool acceptable_host(const http::request_header<>& h) {
  const auto hosts = h.count(http::field::host);
  return hosts == 1 || (hosts == 0 && h.version() < 11);
}

inline bool is_http_parse_error(const boost::beast::error_code& ec) {
  return ec.category() == http::make_error_code(http::error::bad_chunk).category();
}

// Runs a read of `stream` with a deadline that, unlike beast::tcp_stream's expiry, leaves the
// connection open, so that the client can still be told 408. beast::error::timeout when time ran
// out. The timer cancels the pending read rather than racing it in a parallel group, which
// would cost two coroutines per read. A cancel can fall between two of the read's own reads,
// so past the deadline it is repeated every 5 ms until the read ends. The timer's handler may
// run after this returns: what it shares with the read lives in a state that says the read is
// over, and it touches nothing else then.
template <class Stream, class ReadOp>
boost::asio::awaitable<boost::beast::error_code> read_within(Stream& stream,
                                                             std::chrono::milliseconds limit,
                                                             ReadOp read) {
  struct Deadline {
    bool expired = false;
    bool over = false;
  };
  struct Fire {
    std::shared_ptr<Deadline> deadline;
    Stream* stream;
    boost::asio::steady_timer* timer;
    void operator()(const boost::beast::error_code& ec) const {
      if (ec || deadline->over) return;
      deadline->expired = true;
      auto& lowest = boost::beast::get_lowest_layer(*stream);
      if constexpr (requires { lowest.cancel(); }) lowest.cancel();
      else lowest.close();
      timer->expires_after(std::chrono::milliseconds(5));
      timer->async_wait(*this);
    }
  };
  auto deadline = std::make_shared<Deadline>();
  boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor, limit);
  timer.async_wait(Fire{deadline, &stream, &timer});
  auto [ec, n] = co_await read();
  deadline->over = true;
  timer.cancel();
  if (ec == boost::asio::error::operation_aborted && deadline->expired)
    co_return boost::beast::error::timeout;
  co_return ec;
}

}  // namespace detail

// Reads one request's head and body from `stream` (bytes already in `buffer` first) into
// `parser`, whose limits the caller has set from `sc`. Answers `Expect: 100-continue`.
// Completes on the stream's executor; when cancelled, the pending read is cancelled and the
// result says `gone`.
template <class Stream>
boost::asio::awaitable<RequestRead> read_request(
    Stream& stream, boost::beast::flat_buffer& buffer,
    boost::beast::http::request_parser<boost::beast::http::string_body>& parser,
    const ServerConfig& sc) {
  namespace http = boost::beast::http;
  namespace net = boost::asio;
  using ms = std::chrono::milliseconds;
  constexpr auto use_tuple = net::as_tuple(net::use_awaitable);
  RequestRead out;
  auto refuse = [&](Reason reason, std::string message, Refusal why, std::string detail = {}) {
    out.failed = true;
    out.error = make_error(reason, std::move(message));
    out.refusal = why;
    out.detail = std::move(detail);
    return out;
  };

  // What is buffered first (often the whole request, read while the connection was idle); the
  // timed read only for a head that is not all in yet.
  auto hec = parse_buffered(parser, buffer);  // not eager: the head and no more
  if (!hec && !parser.is_header_done())
    hec = co_await detail::read_within(stream, ms(sc.header_timeout_ms), [&] {
      return http::async_read_header(stream, buffer, parser, use_tuple);
    });
  if (hec == http::error::header_limit)
    co_return refuse(Reason::headers_too_large,
                     fmt::format("Request headers exceed server.max_header_bytes ({} bytes).",
                                 sc.max_header_bytes),
                     Refusal::limit);
  if (hec == boost::beast::error::timeout)
    co_return refuse(Reason::client_timeout,
                     fmt::format("Request headers not received within server.header_timeout_ms "
                                 "({} ms).",
                                 sc.header_timeout_ms),
                     Refusal::limit);
  if (hec == http::error::body_limit)
    co_return refuse(Reason::body_too_large,
                     fmt::format("Request body of {} bytes exceeds server.max_body_bytes ({} "
                                 "bytes).",
                                 std::string_view(parser.get()[http::field::content_length]),
                                 sc.max_body_bytes),
                     Refusal::limit);
  if (hec == http::error::end_of_stream || hec == net::error::eof ||
      hec == net::error::connection_reset || hec == net::error::operation_aborted) {
    out.gone = true;
    co_return out;
  }
  if (hec)
    co_return refuse(Reason::bad_request, "Malformed HTTP request: " + hec.message(),
                     Refusal::malformed, hec.message());
  if (!detail::acceptable_framing(parser.get()))
    co_return refuse(Reason::bad_request,
                     "Unsupported request framing: Transfer-Encoding must be exactly "
                     "\"chunked\" on HTTP/1.1, without Content-Length.",
                     Refusal::transfer_encoding, "bad Transfer-Encoding");
  if (!detail::acceptable_host(parser.get()))
    co_return refuse(Reason::bad_request, "An HTTP/1.1 request needs exactly one Host header.",
                     Refusal::host, "missing or repeated Host");

  if (parser.get().version() >= 11 &&
      boost::beast::iequals(parser.get()[http::field::expect], "100-continue")) {
    http::response<http::empty_body> cont{http::status::continue_, 11};
    (void)co_await http::async_write(stream, cont, use_tuple);
  }
  // Likewise the body, which usually came with the head.
  parser.eager(true);
  auto bec = parse_buffered(parser, buffer);
  // Room for the rest of a body of known length, up to 16 KB, so that it comes in one read, not
  // in reads sized to what the buffer had room for (a 16 KB prompt took five system calls, not
  // two). Capped because a client can declare a length and send nothing: a connection then
  // holds 16 KB until body_timeout_ms, not the 64 KB of Beast's largest read.
  if (const auto rest = parser.content_length_remaining(); rest && !bec && !parser.is_done())
    buffer.reserve(buffer.size() + std::min<std::size_t>(*rest, 16 << 10));
  if (!bec && !parser.is_done())
    bec = co_await detail::read_within(stream, ms(sc.body_timeout_ms), [&] {
      return http::async_read(stream, buffer, parser, use_tuple);
    });
  if (bec == http::error::body_limit)
    co_return refuse(Reason::body_too_large,
                     fmt::format("Request body exceeds server.max_body_bytes ({} bytes).",
                                 sc.max_body_bytes),
                     Refusal::limit);
  if (bec == boost::beast::error::timeout)
    co_return refuse(Reason::client_timeout,
                     fmt::format("Request body not received within server.body_timeout_ms ({} "
                                 "ms).",
                                 sc.body_timeout_ms),
                     Refusal::limit);
  if (bec && detail::is_http_parse_error(bec) && bec != http::error::partial_message)
    co_return refuse(Reason::bad_request, "Malformed chunked request body: " + bec.message(),
                     Refusal::chunked_body, "malformed chunked body: " + bec.message());
  if (bec) out.gone = true;  // the client hung up mid-body: nobody to answer
  co_return out;
}

}  // namespace switchyard

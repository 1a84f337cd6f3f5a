// Reading one HTTP/1.1 request off a client connection: limits, timeouts and the framing rules
// that keep requests from being smuggled (core/http1.hpp). A template over the stream so that
// the fuzzer drives the same code through beast::test::stream; included only by the session and
// the fuzz target.
#pragma once

#include "api/request.hpp"
#include "server/http_request.hpp"
#include "switchyard/config.hpp"
#include "switchyard/error.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http/error.hpp>
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
// there is nobody to answer. Otherwise either the request was read whole, or `error` is the
// answer to send before closing the connection (the stream is no longer in a known state).
struct RequestRead {
  bool gone = false;
  bool failed = false;
  Error error;
  Refusal refusal = Refusal::none;
  std::string detail;  // for the log: what exactly was wrong
};

namespace detail {

// Runs a read (or a write) of `stream` with a deadline that, unlike beast::tcp_stream's expiry,
// leaves the connection open, so that the client can still be told 408. beast::error::timeout
// when time ran out; the bytes moved either way. The timer cancels the pending read rather than racing it in
// a parallel group, which would cost two coroutines per read. A cancel can fall between two of
// the read's own reads, so past the deadline it is repeated every 5 ms until the read ends. The
// timer's handler may run after this returns: what it shares with the read lives in a state
// that says the read is over, and it touches nothing else then.
template <class Stream, class ReadOp>
boost::asio::awaitable<std::pair<boost::beast::error_code, std::size_t>> within(
    Stream& stream, std::chrono::steady_clock::time_point deadline, ReadOp read) {
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
  if (std::chrono::steady_clock::now() >= deadline)
    co_return std::pair{boost::beast::error_code(boost::beast::error::timeout), std::size_t{0}};
  auto state = std::make_shared<Deadline>();
  boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor, deadline);
  timer.async_wait(Fire{state, &stream, &timer});
  auto [ec, n] = co_await read();
  state->over = true;
  timer.cancel();
  if (ec == boost::asio::error::operation_aborted && state->expired)
    ec = boost::beast::error::timeout;
  co_return std::pair{ec, n};
}

// Reads what the client sends next into `buffer`, until `deadline`.
template <class Stream>
boost::asio::awaitable<boost::beast::error_code> read_more(
    Stream& stream, boost::beast::flat_buffer& buffer,
    std::chrono::steady_clock::time_point deadline) {
  const auto space = buffer.prepare(boost::beast::read_size(buffer, 64 * 1024));
  auto [ec, n] = co_await within(stream, deadline, [&] {
    return stream.async_read_some(space, boost::asio::as_tuple(boost::asio::use_awaitable));
  });
  buffer.commit(n);
  co_return ec;
}

inline std::string_view buffered(const boost::beast::flat_buffer& buffer) {
  return {static_cast<const char*>(buffer.data().data()), buffer.size()};
}

}  // namespace detail

// Reads one request's head and body from `stream` (bytes already in `buffer` first) into `req`
// (core/http1.hpp parses, with its framing rules), within the limits and timeouts of `sc`.
// Answers `Expect: 100-continue`. Bytes after the request (a pipelined next one) stay in
// `buffer`. Completes on the stream's executor; when cancelled, the pending read is cancelled
// and the result says `gone`.
template <class Stream>
boost::asio::awaitable<RequestRead> read_request(Stream& stream,
                                                 boost::beast::flat_buffer& buffer,
                                                 HttpRequest& req, const ServerConfig& sc) {
  namespace http = boost::beast::http;
  namespace net = boost::asio;
  using clock = std::chrono::steady_clock;
  using ms = std::chrono::milliseconds;
  RequestRead out;
  auto refuse = [&](Reason reason, std::string message, Refusal why, std::string detail = {}) {
    out.failed = true;
    out.error = make_error(reason, std::move(message));
    out.refusal = why;
    out.detail = std::move(detail);
    return out;
  };
  const auto too_large = [&] {
    return refuse(Reason::headers_too_large,
                  fmt::format("Request headers exceed server.max_header_bytes ({} bytes).",
                              sc.max_header_bytes),
                  Refusal::limit);
  };
  const auto timed_out = [&](std::string_view what, std::string_view limit, std::uint32_t n) {
    return refuse(Reason::client_timeout,
                  fmt::format("Request {} not received within server.{} ({} ms).", what, limit,
                              n),
                  Refusal::limit);
  };

  // The head: what is buffered first (often the whole request, read while the connection was
  // idle), then timed reads for the rest.
  const auto head_deadline = clock::now() + ms(sc.header_timeout_ms);
  std::size_t scanned = 0, end = 0;
  while ((end = http1::head_end(detail::buffered(buffer), scanned)) == 0) {
    if (buffer.size() > sc.max_header_bytes) co_return too_large();
    const auto ec = co_await detail::read_more(stream, buffer, head_deadline);
    if (ec == boost::beast::error::timeout)
      co_return timed_out("headers", "header_timeout_ms", sc.header_timeout_ms);
    if (ec) {
      out.gone = true;
      co_return out;
    }
  }
  if (end > sc.max_header_bytes) co_return too_large();
  http1::Head head;
  const auto hec = req.parse_head(detail::buffered(buffer).substr(0, end), head);
  buffer.consume(end);
  if (hec == http::error::bad_transfer_encoding)
    co_return refuse(Reason::bad_request,
                     "Unsupported request framing: Transfer-Encoding must be exactly "
                     "\"chunked\" on HTTP/1.1, without Content-Length.",
                     Refusal::transfer_encoding, "bad Transfer-Encoding");
  if (hec)
    co_return refuse(Reason::bad_request, "Malformed HTTP request: " + hec.message(),
                     Refusal::malformed, hec.message());
  // RFC 9112 §3.2: exactly one Host on HTTP/1.1, at most one on HTTP/1.0.
  if (head.hosts > 1 || (head.hosts == 0 && head.version == 11))
    co_return refuse(Reason::bad_request, "An HTTP/1.1 request needs exactly one Host header.",
                     Refusal::host, "missing or repeated Host");
  if (head.framing == http1::Framing::length && head.length > sc.max_body_bytes)
    co_return refuse(Reason::body_too_large,
                     fmt::format("Request body of {} bytes exceeds server.max_body_bytes ({} "
                                 "bytes).",
                                 head.length, sc.max_body_bytes),
                     Refusal::limit);
  const auto body_deadline = clock::now() + ms(sc.body_timeout_ms);
  const auto body_failed = [&](const boost::beast::error_code& ec) {
    if (ec == boost::beast::error::timeout)
      return timed_out("body", "body_timeout_ms", sc.body_timeout_ms);
    out.gone = true;  // the client hung up mid-body: nobody to answer
    return out;
  };
  // The client waits for the go-ahead before it sends a body that is not here yet (RFC 9110
  // §10.1.1), within the body's time: a client that reads nothing cannot hold the write.
  if (head.version == 11 && head.expect_continue && head.framing != http1::Framing::none &&
      !(head.framing == http1::Framing::length && buffer.size() >= head.length)) {
    constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
    auto [ec, n] = co_await detail::within(stream, body_deadline, [&] {
      return net::async_write(stream, net::buffer(kContinue), net::as_tuple(net::use_awaitable));
    });
    if (ec) co_return body_failed(ec);
  }

  if (head.framing == http1::Framing::length) {
    // What came with the head, then reads straight into the body. It grows by at most what it
    // holds (16 KB first): a client can declare a length and send nothing, and its connection
    // then holds 16 KB until body_timeout_ms, not the length it declared.
    // Each growth leaves room for the JSON parser's padding, so that it reads the body in place.
    const auto length = static_cast<std::size_t>(head.length);
    const auto first = detail::buffered(buffer).substr(0, length);
    req.body.reserve(first.size() + kJsonPadding);
    req.body.assign(first);
    buffer.consume(first.size());
    while (req.body.size() < length) {
      const std::size_t have = req.body.size();
      const std::size_t room = std::min(length - have, std::max<std::size_t>(have, 16 << 10));
      req.body.reserve(have + room + kJsonPadding);
      req.body.resize(have + room);
      auto [ec, n] = co_await detail::within(stream, body_deadline, [&] {
        return stream.async_read_some(net::buffer(req.body.data() + have, room),
                                      net::as_tuple(net::use_awaitable));
      });
      req.body.resize(have + n);
      if (ec) co_return body_failed(ec);
    }
  } else if (head.framing == http1::Framing::chunked) {
    http1::BodyDecoder chunks;
    chunks.start(http1::Framing::chunked, 0);
    const auto take = [&](std::string_view bytes) {
      if (req.body.size() + bytes.size() > sc.max_body_bytes) return false;
      req.body.append(bytes);
      return true;
    };
    for (;;) {
      boost::beast::error_code ec;
      buffer.consume(chunks.put(detail::buffered(buffer), take, ec));
      if (ec == http::error::body_limit)
        co_return refuse(Reason::body_too_large,
                         fmt::format("Request body exceeds server.max_body_bytes ({} bytes).",
                                     sc.max_body_bytes),
                         Refusal::limit);
      if (ec)
        co_return refuse(Reason::bad_request, "Malformed chunked request body: " + ec.message(),
                         Refusal::chunked_body, "malformed chunked body: " + ec.message());
      if (chunks.done()) break;
      if (auto rec = co_await detail::read_more(stream, buffer, body_deadline))
        co_return body_failed(rec);
    }
  }
  co_return out;
}

}  // namespace switchyard

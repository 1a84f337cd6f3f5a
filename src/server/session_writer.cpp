#include "server/session_writer.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http.hpp>

#include <fmt/format.h>

#include <iterator>

namespace switchyard {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

namespace {

constexpr auto use_tuple = net::as_tuple(net::use_awaitable);

}  // namespace

Task<Result<void>> SessionWriter::send(int status, std::string_view content_type,
                                       std::string_view body) {
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

Task<Result<void>> SessionWriter::begin_stream() {
  http::response<http::empty_body> res{http::status::ok, version_};
  for (const auto& f : fields_) res.set(f.name_string(), f.value());
  res.set(http::field::content_type, "text/event-stream");
  res.set(http::field::cache_control, "no-cache");
  res.keep_alive(keep_alive_);
  res.chunked(chunked_);
  status_ = 200;
  started_ = true;
  // The head waits with the first events for flush(): one write for both.
  http::response_serializer<http::empty_body> sr{res};
  sr.split(true);
  beast::error_code ec;
  while (!ec && !sr.is_header_done())
    sr.next(ec, [&](beast::error_code&, const auto& buffers) {
      for (const auto b : beast::buffers_range_ref(buffers))
        pending_.append(static_cast<const char*>(b.data()), b.size());
      sr.consume(beast::buffer_bytes(buffers));
    });
  co_return check(ec);
}

Task<Result<void>> SessionWriter::write_event(std::string_view event) {
  if (chunked_) fmt::format_to(std::back_inserter(pending_), "{:x}\r\n", event.size());
  pending_.append(event);
  if (chunked_) pending_.append("\r\n");
  if (pending_.size() < kMaxPending) co_return Result<void>{};
  co_return co_await flush();
}

Task<Result<void>> SessionWriter::flush() {
  // After a write that failed midway, more bytes would only corrupt the framing: the connection
  // is cut instead.
  if (broken_) co_return make_error(Reason::cancelled, "client connection lost");
  if (pending_.empty()) co_return Result<void>{};
  stream_.expires_after(timeout_);
  auto [ec, n] = co_await net::async_write(stream_, net::buffer(pending_), use_tuple);
  pending_.clear();
  co_return check(ec);
}

Task<Result<void>> SessionWriter::end_stream() {
  if (chunked_) {
    pending_.append("0\r\n");
    for (const auto& f : trailers_) {
      pending_.append(f.name_string().data(), f.name_string().size()).append(": ");
      pending_.append(f.value().data(), f.value().size()).append("\r\n");
    }
    pending_.append("\r\n");
  }
  co_return co_await flush();
}

Result<void> SessionWriter::check(const beast::error_code& ec) {
  stream_.expires_never();
  if (!ec) return {};
  broken_ = true;
  return make_error(Reason::cancelled, "client connection lost: " + ec.message());
}

Task<Result<void>> send_error(SessionWriter& out, const Error& e) {
  if (e.retry_after_ms) {
    // An upstream's wait is passed on up to a minute; the gateway's own limits know theirs (a
    // spent budget renews at midnight).
    const auto ms_value = e.reason == Reason::too_many_requests
                              ? e.retry_after_ms
                              : std::min<std::uint32_t>(e.retry_after_ms, 60'000);
    out.set_header("retry-after", std::to_string((ms_value + 999) / 1000));
    out.set_header("retry-after-ms", std::to_string(ms_value));
    // A wait past a minute (a spent budget) is longer than SDKs wait: they must not retry.
    out.set_header("x-should-retry", ms_value <= 60'000 ? "true" : "false");
  }
  co_return co_await out.send(e.status, "application/json", to_openai_json(e));
}

}  // namespace switchyard

#include "server/session_writer.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http.hpp>

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
  http::response_serializer<http::empty_body> sr{res};
  stream_.expires_after(timeout_);
  auto [ec, n] = co_await http::async_write_header(stream_, sr, use_tuple);
  co_return check(ec);
}

Task<Result<void>> SessionWriter::write_event(std::string_view event) {
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

Task<Result<void>> SessionWriter::end_stream() {
  if (!chunked_) co_return Result<void>{};
  stream_.expires_after(timeout_);
  auto [ec, n] = co_await net::async_write(stream_, http::make_chunk_last(trailers_), use_tuple);
  co_return check(ec);
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
  }
  co_return co_await out.send(e.status, "application/json", to_openai_json(e));
}

}  // namespace switchyard

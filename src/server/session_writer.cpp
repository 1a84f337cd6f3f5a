#include "server/session_writer.hpp"

#include "core/http_head.hpp"
#include "core/json_text.hpp"
#include "core/write_now.hpp"

#include <boost/beast/core/string.hpp>
#include <boost/beast/http/status.hpp>

#include <fmt/format.h>

#include <array>
#include <charconv>
#include <cstring>

namespace switchyard {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

void SessionWriter::set_line(std::string& lines, std::uint64_t& names, std::string_view name,
                             std::string_view value) {
  // Names equal in any case have the same length and last letter (| 0x20 lower-cases letters).
  const auto last = static_cast<unsigned char>(name.empty() ? 0 : name.back() | 0x20);
  const std::uint64_t bit = std::uint64_t{1} << ((name.size() * 7 + last) & 63);
  if (!(names & bit)) {
    names |= bit;
    append_header(lines, name, value);
    return;
  }
  const char* const begin = lines.data();
  const char* const end = begin + lines.size();
  for (const char* line = begin; line < end;) {
    const auto* lf = static_cast<const char*>(std::memchr(line, '\n', end - line));
    const char* next = lf ? lf + 1 : end;
    if (static_cast<std::size_t>(next - line) > name.size() && line[name.size()] == ':' &&
        beast::iequals(std::string_view(line, name.size()), name)) {
      lines.erase(line - begin, next - line);
      break;
    }
    line = next;
  }
  append_header(lines, name, value);
}

bool SessionWriter::is_framing(std::string_view name) {
  for (const std::string_view f :
       {"content-length", "content-type", "transfer-encoding", "connection"})
    if (beast::iequals(name, f)) return true;
  return false;
}

void SessionWriter::head(int status, std::initializer_list<Header> framing) {
  pending_.reserve(pending_.size() + fields_.size() + 192);
  // "HTTP/1.1 200 ": by hand, as fmt parsed its format string on every answer (about 1k
  // instructions a request, bench/instructions.sh).
  pending_.append("HTTP/", 5);
  append_chars(pending_, version_ / 10);
  pending_.push_back('.');
  append_chars(pending_, version_ % 10);
  pending_.push_back(' ');
  append_chars(pending_, static_cast<unsigned>(status));
  pending_.push_back(' ');
  pending_.append(http::obsolete_reason(static_cast<http::status>(status)));
  pending_.append("\r\n", 2).append(fields_);
  for (const auto& [name, value] : framing) append_header(pending_, name, value);
  // HTTP/1.1 keeps the connection by default; HTTP/1.0 closes it by default (keep_alive_ is
  // false then).
  if (!keep_alive_ && version_ >= 11) pending_.append("Connection: close\r\n");
  pending_.append("\r\n");
}

Task<Result<void>> SessionWriter::send(int status, std::string_view content_type,
                                       std::string_view body) {
  status_ = status;
  started_ = true;
  // 1xx, 204 and 304 have no body and no Content-Length (RFC 9110 §8.6, §15.3.5).
  const bool bodiless = status < 200 || status == 204 || status == 304;
  const fmt::format_int length(body.size());
  const std::string_view size(length.data(), length.size());
  if (bodiless) head(status, {});
  else head(status, {{"Content-Type", content_type}, {"Content-Length", size}});
  const std::array<net::const_buffer, 2> buffers{
      net::buffer(pending_), net::buffer(body.data(), bodiless || head_only_ ? 0 : body.size())};
  stream_.expires_after(timeout_);
  const auto ec = co_await write_now(stream_, buffers);
  pending_.clear();
  co_return check(ec);
}

void SessionWriter::begin_stream() {
  status_ = 200;
  started_ = true;
  // The head waits with the first events for flush(): one write for both.
  const Header type{"Content-Type", "text/event-stream"}, cache{"Cache-Control", "no-cache"};
  if (chunked_) head(200, {type, cache, {"Transfer-Encoding", "chunked"}});
  else head(200, {type, cache});
}

void SessionWriter::write_event(std::string_view event) {
  if (!chunked_) {
    pending_.append(event);
    return;
  }
  char size[24];
  char* end = std::to_chars(size, size + 16, event.size(), 16).ptr;
  *end++ = '\r';
  *end++ = '\n';
  pending_.append(size, static_cast<std::size_t>(end - size)).append(event).append("\r\n", 2);
}

Task<Result<void>> SessionWriter::flush() {
  // After a write that failed midway, more bytes would only corrupt the framing: the connection
  // is cut instead.
  if (broken_) co_return make_error(Reason::cancelled, "client connection lost");
  if (pending_.empty()) co_return Result<void>{};
  stream_.expires_after(timeout_);
  const auto ec = co_await write_now(stream_, net::buffer(pending_));
  pending_.clear();
  co_return check(ec);
}

Task<Result<void>> SessionWriter::end_stream() {
  if (chunked_) {
    pending_.append("0\r\n").append(trailers_).append("\r\n");
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

// An upstream's answer read by core/http1.hpp, which reads every upstream answer, against
// Beast's parser, which it replaced there: whatever http1 reads as one whole answer, Beast reads
// with the same status, body, keep-alive and length. http1 may refuse what Beast accepts (it is
// stricter on purpose), never the other way round. And http1 reads the same answer whether the
// bytes come in one read or two (the first byte picks where they split).
#include "core/http1.hpp"

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

namespace {

constexpr std::size_t kMaxBody = 1 << 20;

struct Read {
  bool ok = false;
  int status = 0;
  bool keep_alive = false;
  std::size_t used = 0;
  std::string body;
};

// As the gateway's ReplyParser reads: the head once head_end finds it, then the body.
Read with_http1(std::string_view in, std::size_t split) {
  using namespace switchyard::http1;
  Read out;
  std::size_t from = 0, end = head_end(in.substr(0, split), from);
  if (end == 0) end = head_end(in, from);
  if (end == 0 || end > 8192) return out;
  Head head;
  if (parse_response_head(in.substr(0, end), head, [](std::string_view, std::string_view) {}))
    return out;
  BodyDecoder body;
  body.start(head.framing, head.length);
  error_code ec;
  const auto take = [&](std::string_view b) {
    out.body.append(b);
    return out.body.size() <= kMaxBody;
  };
  out.used = end;
  if (split > end) out.used += body.put(in.substr(end, split - end), take, ec);
  if (!ec && !body.done()) out.used += body.put(in.substr(out.used), take, ec);
  if (!ec && !body.done()) ec = body.eof();
  if (ec) return out;
  out.ok = true;
  out.status = head.status;
  out.keep_alive = head.keep_alive;
  return out;
}

Read with_beast(std::string_view in) {
  namespace http = boost::beast::http;
  Read out;
  http::response_parser<http::string_body> p;
  p.header_limit(16384);
  p.body_limit(kMaxBody);
  p.eager(true);
  boost::beast::error_code ec;
  while (!ec && !p.is_done() && out.used < in.size()) {
    const auto rest = in.substr(out.used);
    const std::size_t n = p.put(boost::asio::buffer(rest.data(), rest.size()), ec);
    out.used += n;
    if (n == 0 && !ec) break;
  }
  if (ec == http::error::need_more) ec = {};
  if (!ec && !p.is_done()) p.put_eof(ec);
  if (ec || !p.is_done()) return out;
  out.ok = true;
  out.status = p.get().result_int();
  out.keep_alive = p.keep_alive();
  out.body = p.get().body();
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  const Read whole = with_http1(in, in.size());
  const Read split = with_http1(in, size == 0 ? 0 : data[0] % size);
  if (whole.ok != split.ok || whole.used != split.used || whole.body != split.body) std::abort();
  if (!whole.ok) return 0;
  const Read beast = with_beast(in);
  if (!beast.ok || beast.status != whole.status || beast.keep_alive != whole.keep_alive ||
      beast.used != whole.used || beast.body != whole.body)
    std::abort();
  return 0;
}

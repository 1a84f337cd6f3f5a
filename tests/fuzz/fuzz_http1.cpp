// The same bytes read as an upstream's answer and as a client's request by core/http1.hpp, which
// reads both, against Beast's parser, which it replaced: whatever http1 reads as one whole
// message, Beast reads with the same status (method, target, version), body and length, and
// keeps the connection if http1 does. http1 may refuse what Beast accepts, or close where Beast
// keeps (it is stricter on purpose: Beast keeps an HTTP/1.0 connection that says both
// keep-alive and close), never the other way round. And http1 reads the same message whether
// the bytes come in one read or two (the first byte picks where they split).
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
  int status = 0, version = 0;
  std::string method, target;
  bool keep_alive = false;
  std::size_t used = 0;
  std::string body;
};

// As the gateway reads: the head once head_end finds it, then the body.
template <bool Request>
Read with_http1(std::string_view in, std::size_t split) {
  using namespace switchyard::http1;
  Read out;
  std::size_t from = 0, end = head_end(in.substr(0, split), from);
  if (end == 0) end = head_end(in, from);
  if (end == 0 || end > 8192) return out;
  Head head;
  const auto ignore = [](std::string_view, std::string_view) {};
  if (Request ? parse_request_head(in.substr(0, end), head, ignore)
              : parse_response_head(in.substr(0, end), head, ignore))
    return out;
  BodyDecoder body;
  body.start(head.framing, head.length);
  error_code ec;
  const auto take = [&](std::string_view b) {
    if (out.body.size() + b.size() > kMaxBody) return false;
    out.body.append(b);
    return true;
  };
  out.used = end;
  if (split > end) out.used += body.put(in.substr(end, split - end), take, ec);
  if (!ec && !body.done()) out.used += body.put(in.substr(out.used), take, ec);
  if (!ec && !body.done()) ec = body.eof();
  if (ec) return out;
  out.ok = true;
  out.status = head.status;
  out.version = head.version;
  out.method = head.method;
  out.target = head.target;
  out.keep_alive = head.keep_alive;
  return out;
}

template <bool Request>
Read with_beast(std::string_view in) {
  namespace http = boost::beast::http;
  Read out;
  http::parser<Request, http::string_body> p;
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
  out.version = p.get().version();
  if constexpr (Request) {
    out.method = p.get().method_string();
    out.target = p.get().target();
  } else {
    out.status = p.get().result_int();
  }
  out.keep_alive = p.keep_alive();
  out.body = p.get().body();
  return out;
}

template <bool Request>
void check(std::string_view in, std::size_t split) {
  const Read whole = with_http1<Request>(in, in.size());
  const Read part = with_http1<Request>(in, split);
  if (whole.ok != part.ok || whole.used != part.used || whole.body != part.body) std::abort();
  if (!whole.ok) return;
  const Read beast = with_beast<Request>(in);
  if (!beast.ok || beast.status != whole.status || beast.version != whole.version ||
      beast.method != whole.method || beast.target != whole.target ||
      (whole.keep_alive && !beast.keep_alive) || beast.used != whole.used ||
      beast.body != whole.body)
    std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  const std::size_t split = size == 0 ? 0 : data[0] % size;
  check<false>(in, split);
  check<true>(in, split);
  return 0;
}

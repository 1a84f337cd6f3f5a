#include "support/http_client.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <sys/socket.h>
#include <sys/time.h>

namespace switchyard::test {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

namespace {

template <class Fields>
std::map<std::string, std::string> lower_headers(const Fields& f) {
  std::map<std::string, std::string> out;
  for (const auto& h : f) {
    std::string name(h.name_string());
    for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    out[name] = std::string(h.value());
  }
  return out;
}

http::request<http::string_body> make_request(const std::string& method, const std::string& target,
                                              const std::string& body,
                                              const std::map<std::string, std::string>& headers) {
  http::request<http::string_body> req{http::string_to_verb(method), target, 11};
  req.set(http::field::host, "127.0.0.1");
  if (!body.empty()) req.set(http::field::content_type, "application/json");
  for (const auto& [k, v] : headers) req.set(k, v);
  req.body() = body;
  req.prepare_payload();
  return req;
}

}  // namespace

HttpResponse http_request(unsigned short port, const std::string& method, const std::string& target,
                          const std::string& body,
                          const std::map<std::string, std::string>& headers) {
  net::io_context io;
  beast::tcp_stream s(io);
  s.expires_after(std::chrono::seconds(30));
  beast::error_code ec;
  s.socket().connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port), ec);
  HttpResponse out;
  if (ec) return out;
  auto req = make_request(method, target, body, headers);
  http::write(s, req, ec);
  if (ec) return out;
  beast::flat_buffer buf;
  http::response_parser<http::string_body> p;
  p.body_limit(64 << 20);
  p.skip(method == "HEAD");  // a HEAD answer's Content-Length describes a body it never sends
  http::read(s, buf, p, ec);
  if (ec) return out;
  out.status = static_cast<int>(p.get().result_int());
  out.headers = lower_headers(p.get());
  out.body = p.get().body();
  return out;
}

SseResult read_sse(unsigned short port, const std::string& body, std::size_t max_events) {
  net::io_context io;
  beast::tcp_stream s(io);
  s.expires_after(std::chrono::seconds(30));
  beast::error_code ec;
  SseResult out;
  s.socket().connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port), ec);
  if (ec) return out;
  auto req = make_request("POST", "/v1/chat/completions", body, {});
  http::write(s, req, ec);
  if (ec) return out;
  beast::flat_buffer buf;
  http::response_parser<http::buffer_body> p;
  p.body_limit(boost::none);
  http::read_header(s, buf, p, ec);
  if (ec) return out;
  out.status = static_cast<int>(p.get().result_int());
  out.headers = lower_headers(p.get());
  std::string pending;
  char chunk[4096];
  while (!p.is_done()) {
    p.get().body().data = chunk;
    p.get().body().size = sizeof chunk;
    http::read_some(s, buf, p, ec);
    if (ec == http::error::need_buffer) ec = {};
    if (ec) return out;
    pending.append(chunk, sizeof chunk - p.get().body().size);
    if (out.status != 200) continue;
    for (auto pos = pending.find("\n\n"); pos != std::string::npos; pos = pending.find("\n\n")) {
      std::string ev = pending.substr(0, pos);
      pending.erase(0, pos + 2);
      if (ev.rfind("data: ", 0) == 0) out.events.push_back(ev.substr(6));
      if (max_events && out.events.size() >= max_events) {
        s.socket().shutdown(tcp::socket::shutdown_both, ec);
        s.socket().close(ec);
        return out;
      }
    }
  }
  if (out.status != 200) out.error_body = pending;
  out.complete = true;
  out.trailers = lower_headers(p.get());  // trailers are merged into the fields at the end
  return out;
}

std::string raw_exchange(unsigned short port, const std::string& bytes,
                         std::chrono::milliseconds wait) {
  net::io_context io;
  tcp::socket s(io);
  beast::error_code ec;
  s.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port), ec);
  if (ec) return {};
  // Synchronous reads ignore Beast's timers; a socket receive timeout bounds each read.
  timeval tv{static_cast<time_t>(wait.count() / 1000),
             static_cast<suseconds_t>((wait.count() % 1000) * 1000)};
  ::setsockopt(s.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  net::write(s, net::buffer(bytes), ec);
  std::string out;
  char buf[4096];
  // Plain recv(): Asio's synchronous reads poll past SO_RCVTIMEO.
  for (;;) {
    auto n = ::recv(s.native_handle(), buf, sizeof buf, 0);
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  return out;
}

}  // namespace switchyard::test

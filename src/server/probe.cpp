#include "server/probe.hpp"

#include "core/workers.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

namespace switchyard {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

int probe(const std::string& host_port, const std::string& path,
          std::chrono::milliseconds timeout) {
  auto split = split_host_port(host_port);
  if (!split) return 0;
  std::string& host = split->host;
  if (host == "0.0.0.0" || host.empty()) host = "127.0.0.1";
  if (host == "::") host = "::1";
  const std::string& port = split->port;

  net::io_context io;
  beast::tcp_stream stream(io);
  http::request<http::empty_body> req(http::verb::get, path, 11);
  req.set(http::field::host, host);
  req.set(http::field::connection, "close");
  http::response<http::string_body> res;
  beast::flat_buffer buffer;
  int status = 0;
  net::ip::tcp::resolver resolver(io);
  stream.expires_after(timeout);
  resolver.async_resolve(host, port, [&](beast::error_code ec, const auto& endpoints) {
    if (ec) return;
    stream.async_connect(endpoints, [&](beast::error_code ec2, const auto&) {
      if (ec2) return;
      http::async_write(stream, req, [&](beast::error_code ec3, std::size_t) {
        if (ec3) return;
        http::async_read(stream, buffer, res, [&](beast::error_code ec4, std::size_t) {
          if (!ec4) status = static_cast<int>(res.result_int());
        });
      });
    });
  });
  io.run_for(timeout);
  return status;
}

}  // namespace switchyard

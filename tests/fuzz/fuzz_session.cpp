// A client connection through the session's request reader, fed by beast::test::stream: the
// bytes arrive in pieces of a fuzzed size, and a fuzzed operation can fail (test::fail_count).
// Each request read goes through parse_api_request and forward_body, as the session does. The
// reader may refuse anything; it may not crash, leak, hang or let a request through whose
// framing is ambiguous, and a forwarded body must still be JSON.
//
// Input layout: byte 0 is the read size (1..256), byte 1 the operation that fails (0: none);
// the rest is what the client sends before closing.
#include "fuzz.hpp"
#include "api/request.hpp"
#include "server/request_reader.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/beast/_experimental/test/stream.hpp>

#include <cstddef>
#include <cstdint>
#include <string>

namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
using namespace switchyard;

using fuzz::check;

net::awaitable<void> serve(beast::test::stream& server, const ServerConfig& sc) {
  beast::flat_buffer buffer;
  for (int i = 0; i < 16; ++i) {  // keep-alive: several requests per connection
    HttpRequest req;
    auto read = co_await read_request(server, buffer, req, sc);
    if (read.gone) co_return;
    if (read.failed) {
      check(read.error.status >= 400 && !read.error.message.empty());
      co_return;
    }
    // A request that got through has one unambiguous framing.
    check(req["transfer-encoding"].empty() || req["content-length"].empty());
    check(req.body.size() <= sc.max_body_bytes);
    // A body of declared length is read with room for the JSON parser's padding: parsed in place.
    if (!req["content-length"].empty())
      check(req.body.capacity() - req.body.size() >= kJsonPadding);
    const auto target = req.target();
    const auto endpoint = target.starts_with("/v1/embeddings") ? Endpoint::embeddings
                          : target.starts_with("/v1/completions") ? Endpoint::completions
                                                                  : Endpoint::chat_completions;
    const bool keep_alive = req.keep_alive();
    if (auto parsed = parse_api_request(endpoint, std::move(req.body))) {
      for (auto usage : {UsageOption::as_sent, UsageOption::request, UsageOption::strip})
        check(is_bounded_json(forward_body(*parsed, "up\"stream\\model", usage), 64));
    }
    if (!keep_alive) co_return;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  net::io_context io;
  beast::test::fail_count fails(data[1] ? data[1] : SIZE_MAX);
  beast::test::stream server(io, fails);
  beast::test::stream client(io);
  server.connect(client);
  server.read_size(1 + data[0]);
  client.append(std::string_view(reinterpret_cast<const char*>(data + 2), size - 2));
  client.close();  // EOF after the input: the reader never waits on its timers

  ServerConfig sc;
  sc.max_header_bytes = 8 * 1024;
  sc.max_body_bytes = 256 * 1024;
  net::co_spawn(io, serve(server, sc), net::detached);
  io.run();
  return 0;
}

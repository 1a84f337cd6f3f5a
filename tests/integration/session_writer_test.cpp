// The bytes the gateway writes to a client, byte for byte: the head it formats itself (status
// line, headers set and replaced, framing) and a stream's chunks and trailers.
#include "server/session_writer.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <thread>

namespace switchyard {
namespace {

namespace net = boost::asio;
using tcp = net::ip::tcp;

struct Written {
  std::string bytes;
  bool keep_alive = false;
};

// Runs `write` on a SessionWriter over a real loopback connection and returns what the client
// end received, read as it came, once the writer's end closed.
Written write_with(unsigned version, bool keep_alive, bool head_only,
                   std::function<Task<void>(SessionWriter&)> write) {
  net::io_context io;
  tcp::acceptor acceptor(io, {net::ip::make_address("127.0.0.1"), 0});
  tcp::socket client(io);
  client.connect(acceptor.local_endpoint());
  boost::beast::tcp_stream server(acceptor.accept());
  server.socket().set_option(net::socket_base::send_buffer_size(4096));
  Written out;
  boost::system::error_code ec;
  std::thread reader([&] { net::read(client, net::dynamic_buffer(out.bytes), ec); });
  net::co_spawn(
      io,
      [&]() -> Task<void> {
        SessionWriter writer(server, version, keep_alive, std::chrono::seconds(5), head_only);
        co_await write(writer);
        out.keep_alive = writer.keep_alive();
        server.socket().shutdown(tcp::socket::shutdown_send);
      },
      net::detached);
  io.run();
  reader.join();
  EXPECT_EQ(ec, net::error::eof);
  return out;
}

TEST(SessionWriter, FormatsTheHeadItselfAndReplacesAHeaderSetTwice) {
  auto w = write_with(11, true, false, [](SessionWriter& out) -> Task<void> {
    out.set_header("x-request-id", "abc");
    out.set_header("x-should-retry", "false");
    out.set_header("X-Should-Retry", "true");  // any case names the same header
    out.set_header("x-note", "one\r\nInjected: yes");
    out.set_header("content-length", "999");  // the writer's own framing wins
    out.set_header("Transfer-Encoding", "chunked");
    out.set_header("connection", "upgrade");
    EXPECT_TRUE(co_await out.send(503, "application/json", "{}"));
  });
  EXPECT_EQ(w.bytes,
            "HTTP/1.1 503 Service Unavailable\r\nx-request-id: abc\r\n"
            "X-Should-Retry: true\r\nx-note: one  Injected: yes\r\n"
            "Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}");
}

TEST(SessionWriter, SaysCloseWhenItWillCloseAndHeadHasNoBody) {
  auto closing = write_with(11, false, false, [](SessionWriter& out) -> Task<void> {
    EXPECT_TRUE(co_await out.send(200, "text/plain", "hello"));
  });
  EXPECT_FALSE(closing.keep_alive);
  EXPECT_EQ(closing.bytes,
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n"
            "Connection: close\r\n\r\nhello");
  auto head = write_with(11, true, true, [](SessionWriter& out) -> Task<void> {
    EXPECT_TRUE(co_await out.send(200, "text/plain", "hello"));
  });
  EXPECT_EQ(head.bytes, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\n");
  auto empty = write_with(11, true, false, [](SessionWriter& out) -> Task<void> {
    EXPECT_TRUE(co_await out.send(204, "text/plain", "ignored"));
  });
  EXPECT_EQ(empty.bytes, "HTTP/1.1 204 No Content\r\n\r\n");
}

TEST(SessionWriter, StreamsChunksAndTrailersAndHttp10GetsNoFraming) {
  const auto events = [](SessionWriter& out) -> Task<void> {
    out.set_header("x-request-id", "r1");
    out.begin_stream();
    out.write_event("data: {}\n\n");
    EXPECT_TRUE(co_await out.flush());
    out.write_event("data: [DONE]\n\n");
    out.set_trailer("x-switchyard-cost-usd", "0.5");
    out.set_trailer("X-Switchyard-Cost-Usd", "0.25");
    EXPECT_TRUE(co_await out.end_stream());
  };
  EXPECT_EQ(write_with(11, true, false, events).bytes,
            "HTTP/1.1 200 OK\r\nx-request-id: r1\r\nContent-Type: text/event-stream\r\n"
            "Cache-Control: no-cache\r\nTransfer-Encoding: chunked\r\n\r\n"
            "a\r\ndata: {}\n\n\r\ne\r\ndata: [DONE]\n\n\r\n"
            "0\r\nX-Switchyard-Cost-Usd: 0.25\r\n\r\n");
  auto old = write_with(10, true, false, events);
  EXPECT_FALSE(old.keep_alive);  // an HTTP/1.0 stream ends when the connection does
  EXPECT_EQ(old.bytes,
            "HTTP/1.0 200 OK\r\nx-request-id: r1\r\nContent-Type: text/event-stream\r\n"
            "Cache-Control: no-cache\r\n\r\ndata: {}\n\ndata: [DONE]\n\n");
}

// More than the socket takes at once (its send buffer is 4 KB): the first part goes at once,
// the rest as the client reads, all of it in order.
TEST(SessionWriter, AnAnswerLargerThanTheSocketTakesArrivesWholeAndInOrder) {
  std::string body(512 << 10, '\0');
  for (std::size_t i = 0; i < body.size(); ++i) body[i] = static_cast<char>('a' + i % 23);
  auto w = write_with(11, true, false, [&](SessionWriter& out) -> Task<void> {
    EXPECT_TRUE(co_await out.send(200, "text/plain", body));
  });
  const std::string head =
      "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 524288\r\n\r\n";
  EXPECT_TRUE(w.bytes == head + body);
  auto stream = write_with(11, true, false, [&](SessionWriter& out) -> Task<void> {
    out.begin_stream();
    out.write_event(body);
    EXPECT_TRUE(co_await out.end_stream());
  });
  EXPECT_TRUE(stream.bytes.ends_with("\r\n\r\n80000\r\n" + body + "\r\n0\r\n\r\n"));
}

// A client that reset its connection: the write fails, and the writer writes nothing more.
TEST(SessionWriter, AClientGoneIsAnErrorAndNothingMoreIsWritten) {
  net::io_context io;
  tcp::acceptor acceptor(io, {net::ip::make_address("127.0.0.1"), 0});
  tcp::socket client(io);
  client.connect(acceptor.local_endpoint());
  boost::beast::tcp_stream server(acceptor.accept());
  client.set_option(net::socket_base::linger(true, 0));
  client.close();  // a reset
  bool done = false;
  net::co_spawn(
      io,
      [&]() -> Task<void> {
        SessionWriter writer(server, 11, true, std::chrono::seconds(5), false);
        const std::string body(1 << 20, 'x');
        auto sent = co_await writer.send(200, "text/plain", body);
        EXPECT_FALSE(sent);
        if (!sent) {
          EXPECT_EQ(sent.error().reason, Reason::cancelled);
        }
        writer.write_event("data: {}\n\n");
        EXPECT_FALSE(co_await writer.flush());
        done = true;
      },
      net::detached);
  io.run();
  EXPECT_TRUE(done);
}

}  // namespace
}  // namespace switchyard

// SocketDeadline on a real loopback connection: a read that outlives its deadline ends in a
// timeout, one that completes in time is untouched, a deadline moved later or earlier is kept,
// and a wait left pending when the owner goes away touches nothing.
#include "core/socket_deadline.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <gtest/gtest.h>

#include <chrono>
#include <functional>

namespace switchyard {
namespace {

namespace net = boost::asio;
using tcp = net::ip::tcp;
using std::chrono::milliseconds;
constexpr auto use_tuple = net::as_tuple(net::use_awaitable);

struct Pair {
  net::io_context io;
  tcp::acceptor acceptor{io, {net::ip::make_address("127.0.0.1"), 0}};
  tcp::socket client{io};
  tcp::socket server{io};
  Pair() {
    client.connect(acceptor.local_endpoint());
    server = acceptor.accept();
  }
  // Runs `body` to completion on the pair's loop.
  void run(std::function<Task<void>()> body) {
    bool done = false;
    net::co_spawn(
        io, [&]() -> Task<void> {
          co_await body();
          done = true;
        },
        net::detached);
    io.run();
    EXPECT_TRUE(done);
  }
};

// Reads one byte from `socket` within `limit`; the error as the deadline reports it, and how long
// the read took.
Task<std::pair<boost::beast::error_code, milliseconds>> read_within(SocketDeadline& deadline,
                                                                     tcp::socket& socket,
                                                                     milliseconds limit) {
  const auto start = steady_now();
  char byte;
  deadline.expires_at(start + limit);
  auto [ec, n] = co_await socket.async_read_some(net::buffer(&byte, 1), use_tuple);
  co_return std::pair{deadline.end(ec),
                      std::chrono::duration_cast<milliseconds>(steady_now() - start)};
}

TEST(SocketDeadline, AReadThatOutlivesItsDeadlineTimesOutAndClosesTheSocket) {
  Pair p;
  p.run([&]() -> Task<void> {
    SocketDeadline deadline(p.server);
    auto [ec, took] = co_await read_within(deadline, p.server, milliseconds(50));
    EXPECT_EQ(ec, boost::beast::error::timeout);
    EXPECT_GE(took, milliseconds(50));
    EXPECT_LT(took, milliseconds(2000));
    EXPECT_FALSE(p.server.is_open());
  });
}

TEST(SocketDeadline, AReadInTimeIsUntouchedAndTheNextDeadlineCountsFromItsOwnStart) {
  Pair p;
  p.run([&]() -> Task<void> {
    SocketDeadline deadline(p.server);
    net::write(p.client, net::buffer("ab", 2));
    auto first = co_await read_within(deadline, p.server, milliseconds(100));
    EXPECT_FALSE(first.first);
    // The wait armed for the first deadline is still pending; the reads that start 80 ms later
    // with deadlines of 100 ms must not end when the first one's time comes, 20 ms on.
    net::steady_timer pause(p.io, milliseconds(80));
    co_await pause.async_wait(net::use_awaitable);
    auto second = co_await read_within(deadline, p.server, milliseconds(100));
    EXPECT_FALSE(second.first);  // the "b" was there
    auto third = co_await read_within(deadline, p.server, milliseconds(100));
    EXPECT_EQ(third.first, boost::beast::error::timeout);
    EXPECT_GE(third.second, milliseconds(100));
  });
}

TEST(SocketDeadline, ADeadlineMovedEarlierIsKept) {
  Pair p;
  p.run([&]() -> Task<void> {
    SocketDeadline deadline(p.server);
    deadline.expires_at(steady_now() + std::chrono::seconds(30));
    (void)deadline.end({});
    auto [ec, took] = co_await read_within(deadline, p.server, milliseconds(50));
    EXPECT_EQ(ec, boost::beast::error::timeout);
    EXPECT_LT(took, milliseconds(2000));
  });
}

TEST(SocketDeadline, NoDeadlineOutsideExpiresAtAndEnd) {
  Pair p;
  p.run([&]() -> Task<void> {
    SocketDeadline deadline(p.server);
    deadline.expires_at(steady_now() + milliseconds(20));
    (void)deadline.end({});
    net::steady_timer pause(p.io, milliseconds(60));  // the wait fires meanwhile
    co_await pause.async_wait(net::use_awaitable);
    EXPECT_TRUE(p.server.is_open());
  });
}

TEST(SocketDeadline, AWaitPendingWhenItsOwnerGoesIsHarmless) {
  Pair p;
  {
    SocketDeadline deadline(p.server);
    deadline.expires_at(steady_now() + milliseconds(1));
  }
  p.io.run();  // the cancelled wait's handler runs after its owner is gone
  EXPECT_TRUE(p.server.is_open());
}

}  // namespace
}  // namespace switchyard

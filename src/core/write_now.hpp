// Writing to a TCP stream the way nginx does: at once, and through the event loop only when the
// socket's send buffer is full. Asio's async_write sends at once too, but then posts its
// completion to the scheduler, and each post costs a round of the loop (an epoll_wait that does
// not block, the handler's dispatch, the coroutine's resumption): two of them a JSON request,
// one for the client's answer and one for the upstream request. Included by .cpp files only.
#pragma once

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/buffers_suffix.hpp>
#include <boost/beast/core/tcp_stream.hpp>

#include <array>
#include <cerrno>
#include <cstddef>

#include <sys/socket.h>
#include <sys/uio.h>

namespace switchyard {

// Writes all of `buffers` (at most four) to `stream`; the caller keeps them alive until the
// coroutine completes. One sendmsg that does not wait; what it did not take (none of it, when
// the socket would block) goes through async_write under the deadline the caller set (the
// stream's expiry, or a SocketDeadline). Cancellation of the caller's coroutine applies to that
// async part only, and ends it with operation_aborted, the bytes already sent being lost to the
// peer's framing as with async_write.
template <class Buffers>
boost::asio::awaitable<boost::beast::error_code> write_now(boost::beast::tcp_stream& stream,
                                                           const Buffers& buffers) {
  namespace net = boost::asio;
  std::array<iovec, 4> iov{};
  std::size_t count = 0, total = 0;
  bool fits = true;  // more buffers than iov holds: all of it goes to async_write
  for (auto it = net::buffer_sequence_begin(buffers); it != net::buffer_sequence_end(buffers);
       ++it) {
    const net::const_buffer b = *it;
    if (b.size() == 0) continue;
    if (count == iov.size()) {
      fits = false;
      break;
    }
    iov[count++] = {const_cast<void*>(b.data()), b.size()};  // NOLINT: sendmsg does not write
    total += b.size();
  }
  std::size_t sent = 0;
  if (fits) {
    if (total == 0) co_return boost::beast::error_code{};
    msghdr msg{};
    msg.msg_iov = iov.data();
    msg.msg_iovlen = count;
    const ssize_t n = ::sendmsg(stream.socket().native_handle(), &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
      co_return boost::beast::error_code(errno, boost::system::system_category());
    if (n > 0) sent = static_cast<std::size_t>(n);
    if (sent == total) co_return boost::beast::error_code{};
  }
  boost::beast::buffers_suffix<Buffers> rest(buffers);
  rest.consume(sent);
  auto [ec, n] = co_await net::async_write(stream, rest, net::as_tuple(net::use_awaitable));
  co_return ec;
}

}  // namespace switchyard

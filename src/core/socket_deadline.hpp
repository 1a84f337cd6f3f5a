// A deadline for a socket's reads and writes that costs nothing per operation in the common case.
// beast::tcp_stream's expiry starts a timer wait with every operation and cancels it when the
// operation ends; the cancel posts the wait's handler, and each post costs the event loop a round
// (an epoll_wait that does not block, a dispatch): two per proxied JSON request. Here one wait per
// socket stays pending; moving the deadline later only records it, and when the wait fires early
// it waits again for the time recorded. Included by .cpp files only.
#pragma once

#include "core/clock.hpp"

#include <boost/asio/error.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/error.hpp>

#include <memory>

namespace switchyard {

// Closes `socket` when the deadline of the operation in progress passes, so that the operation
// ends with an error that end() turns into beast::error::timeout. The owner keeps the socket alive
// as long as this object; the timer's handler shares a small state with it and touches the socket
// only while this object exists. Between expires_at() and end() there is a deadline; outside them
// none, and a wait that fires then does nothing. Destroying this object cancels the wait.
class SocketDeadline {
 public:
  explicit SocketDeadline(boost::asio::ip::tcp::socket& socket)
      : state_(std::make_shared<State>(socket)) {}
  SocketDeadline(const SocketDeadline&) = delete;
  SocketDeadline& operator=(const SocketDeadline&) = delete;
  ~SocketDeadline() {
    state_->socket = nullptr;
    state_->timer.cancel();
  }

  // The operations that follow must end by `until`.
  void expires_at(SteadyTime until) {
    State& s = *state_;
    s.until = until;
    if (s.waiting && s.timer.expiry() <= until) return;  // its handler waits on until then
    s.timer.expires_at(until);  // a wait still pending ends with operation_aborted, ignored
    wait(state_);
  }

  // Ends the deadline. Returns `ec`, or beast::error::timeout if the deadline closed the socket.
  boost::beast::error_code end(const boost::beast::error_code& ec) {
    state_->until = SteadyTime::max();
    if (ec && state_->expired) return boost::beast::error::timeout;
    return ec;
  }

 private:
  struct State {
    explicit State(boost::asio::ip::tcp::socket& s) : socket(&s), timer(s.get_executor()) {}
    boost::asio::ip::tcp::socket* socket;  // null once the owner is gone
    boost::asio::steady_timer timer;
    SteadyTime until = SteadyTime::max();  // max: no deadline
    bool waiting = false, expired = false;
  };

  static void wait(const std::shared_ptr<State>& state) {
    state->waiting = true;
    state->timer.async_wait([state](const boost::system::error_code& ec) {
      if (ec) return;  // replaced by a wait for an earlier time, or the owner is gone
      State& s = *state;
      s.waiting = false;
      if (!s.socket || s.until == SteadyTime::max()) return;
      if (steady_now() < s.until) {
        s.timer.expires_at(s.until);
        wait(state);
        return;
      }
      s.expired = true;
      boost::system::error_code ignored;
      s.socket->close(ignored);
    });
  }

  std::shared_ptr<State> state_;
};

}  // namespace switchyard

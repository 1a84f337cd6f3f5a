// Worker threads, one io_context each, and a listener that hands accepted sockets to them in
// turn. Everything a connection touches runs on the worker that accepted it, so the data plane
// needs no locks.
#pragma once

#include "core/log_limiter.hpp"
#include "switchyard/error.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace switchyard {

// The completion of a coroutine nobody awaits (a session, the accept loop, a sweeper): where
// net::detached would drop an escaped exception silently, this logs it. What the coroutine held
// has been released by its destructors by then.
struct LogIfThrew {
  const char* what;
  void operator()(std::exception_ptr e) const;
};

class Workers {
 public:
  explicit Workers(unsigned count);
  ~Workers();
  Workers(const Workers&) = delete;
  Workers& operator=(const Workers&) = delete;

  unsigned size() const { return static_cast<unsigned>(contexts_.size()); }
  boost::asio::io_context& at(unsigned i) { return *contexts_[i]; }

  void start();           // one thread per io_context
  void stop_and_join();   // stops every io_context; pending coroutines are destroyed

 private:
  std::vector<std::unique_ptr<boost::asio::io_context>> contexts_;
  std::vector<std::thread> threads_;
  bool running_ = false;
};

// Runs one accepted connection on its worker; owns the socket. Must return when the peer goes
// away; it is destroyed unfinished if the worker stops.
using SessionFn =
    std::function<boost::asio::awaitable<void>(boost::asio::ip::tcp::socket, unsigned worker)>;

// A listen address, "HOST:PORT" or "[V6]:PORT", split at its last colon, brackets removed;
// nullopt without a colon.
struct HostPort {
  std::string host;
  std::string port;
};
std::optional<HostPort> split_host_port(std::string_view host_port);

class Listener {
 public:
  // `on_accept_error` runs on worker 0 after each failed accept (for a metric).
  Listener(Workers& workers, SessionFn session, std::function<void()> on_accept_error = {});

  // Binds and listens on "HOST:PORT" (port 0: any free port). Returns the bound port.
  Result<unsigned short> open(const std::string& host_port);
  // Starts accepting on worker 0; each socket goes to the next worker in turn.
  void start();
  // Stops accepting; connections already accepted keep running. Safe from any thread.
  void close();

 private:
  boost::asio::awaitable<void> accept_loop();

  Workers& workers_;
  SessionFn session_;
  std::function<void()> on_accept_error_;
  LogLimiter accept_log_{std::chrono::seconds(10)};
  boost::asio::ip::tcp::acceptor acceptor_;
};

}  // namespace switchyard

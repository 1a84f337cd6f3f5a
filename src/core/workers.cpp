#include "core/workers.hpp"

#include "core/cpus.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace switchyard {

namespace net = boost::asio;
using tcp = net::ip::tcp;

void LogIfThrew::operator()(std::exception_ptr e) const {
  if (!e) return;
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    spdlog::error("{} ended by an exception: {}", what, ex.what());
  } catch (...) {
    spdlog::error("{} ended by an unknown exception", what);
  }
}

Workers::Workers(unsigned count) {
  if (count == 0) count = usable_cpus();
  // One thread runs each. The hint of 1 lets Asio skip waking other threads, but it still
  // locks its scheduler and each socket's reactor state (gdb on a loaded gateway: ~1k
  // instructions a request); BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO would drop the socket
  // locks, but worker 0 accepts sockets onto the other workers' reactors.
  for (unsigned i = 0; i < count; ++i)
    contexts_.push_back(std::make_unique<net::io_context>(1));
}

Workers::~Workers() { stop_and_join(); }

void Workers::start() {
  running_ = true;
  for (auto& ctx : contexts_) {
    threads_.emplace_back([c = ctx.get()] {
      auto guard = net::make_work_guard(*c);
      c->run();
    });
  }
}

void Workers::stop_and_join() {
  if (!running_) return;
  running_ = false;
  for (auto& ctx : contexts_) ctx->stop();
  for (auto& t : threads_) t.join();
  threads_.clear();
}

Listener::Listener(Workers& workers, SessionFn session, std::function<void()> on_accept_error)
    : workers_(workers), session_(std::move(session)),
      on_accept_error_(std::move(on_accept_error)), acceptor_(workers.at(0)) {}

std::optional<HostPort> split_host_port(std::string_view host_port) {
  const auto colon = host_port.rfind(':');
  if (colon == std::string_view::npos) return std::nullopt;
  std::string_view host = host_port.substr(0, colon);
  if (host.size() > 1 && host.front() == '[') host = host.substr(1, host.size() - 2);
  return HostPort{std::string(host), std::string(host_port.substr(colon + 1))};
}

Result<unsigned short> Listener::open(const std::string& host_port) {
  auto split = split_host_port(host_port);
  if (!split)
    return make_error(Reason::internal, "listen address must be HOST:PORT: " + host_port);
  const std::string& host = split->host;
  boost::system::error_code ec;
  auto addr = net::ip::make_address(host, ec);
  if (ec) return make_error(Reason::internal, "bad listen host \"" + host + "\": " + ec.message());
  unsigned port = 0;
  try {
    port = static_cast<unsigned>(std::stoul(split->port));
  } catch (const std::exception&) {
    return make_error(Reason::internal, "bad listen port in " + host_port);
  }
  tcp::endpoint ep(addr, static_cast<unsigned short>(port));
  acceptor_.open(ep.protocol(), ec);
  if (!ec) acceptor_.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(ep, ec);
  if (!ec) acceptor_.listen(net::socket_base::max_listen_connections, ec);
  if (ec) return make_error(Reason::internal, "cannot listen on " + host_port + ": " + ec.message());
  return acceptor_.local_endpoint().port();
}

void Listener::start() {
  net::co_spawn(workers_.at(0), accept_loop(), LogIfThrew{"the accept loop"});
}

void Listener::close() {
  net::post(workers_.at(0), [this] {
    boost::system::error_code ec;
    acceptor_.close(ec);
  });
}

net::awaitable<void> Listener::accept_loop() {
  co_await net::this_coro::throw_if_cancelled(false);
  unsigned next = 0;
  auto backoff = std::chrono::milliseconds(10);
  while (acceptor_.is_open()) {
    unsigned w = next++ % workers_.size();
    auto [ec, socket] =
        co_await acceptor_.async_accept(workers_.at(w), net::as_tuple(net::use_awaitable));
    if (ec) {
      if (ec == net::error::operation_aborted || !acceptor_.is_open()) co_return;
      // EMFILE and friends: the pending connection stays in the backlog; retrying at once
      // would spin. Back off (up to 1 s) until descriptors free up, and say so rarely.
      if (on_accept_error_) on_accept_error_();
      if (auto dropped = accept_log_.allow())
        spdlog::warn("accept failed: {}; backing off {} ms{}", ec.message(), backoff.count(),
                     *dropped ? fmt::format(" ({} more failures since the last line)", *dropped)
                              : "");
      net::steady_timer t(workers_.at(0), backoff);
      co_await t.async_wait(net::as_tuple(net::use_awaitable));
      backoff = std::min(backoff * 2, std::chrono::milliseconds(1000));
      continue;
    }
    backoff = std::chrono::milliseconds(10);
    boost::system::error_code oec;
    socket.set_option(tcp::no_delay(true), oec);
    net::co_spawn(workers_.at(w), session_(std::move(socket), w),
                  LogIfThrew{"a client session"});
  }
}

}  // namespace switchyard

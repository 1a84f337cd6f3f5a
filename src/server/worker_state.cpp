#include "server/worker_state.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace switchyard {

namespace net = boost::asio;

void WorkerState::install(std::shared_ptr<const Snapshot> snap) {
  auto view = std::make_shared<WorkerUpstreams>();
  std::unordered_map<std::string, std::shared_ptr<ConnectionPool>> next;
  for (const auto& u : snap->upstreams) {
    auto it = pools.find(u->pool_key);
    auto pool = it != pools.end() ? it->second : make_connection_pool(*u);
    next[u->pool_key] = pool;
    view->upstreams_.push_back(make_http_upstream(io, *u, pool));
  }
  view->snapshot = std::move(snap);
  pools = std::move(next);
  current = std::move(view);
}

net::awaitable<void> sweep_idle_connections(WorkerState& w) {
  co_await net::this_coro::throw_if_cancelled(false);
  net::steady_timer timer(w.io);
  for (;;) {
    timer.expires_after(std::chrono::seconds(1));
    if (auto [ec] = co_await timer.async_wait(net::as_tuple(net::use_awaitable)); ec) co_return;
    for (auto& [key, pool] : w.pools) evict_idle_connections(*pool);
  }
}

}  // namespace switchyard

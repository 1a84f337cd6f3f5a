// The HTTP(S) implementation of Upstream, and the per-worker connection pool it draws from.
// Beast and Asio stay in the .cpp; this header only forward-declares.
#pragma once

#include "switchyard/upstream.hpp"

#include <cstdint>
#include <memory>

namespace boost::asio {
class io_context;
}

namespace switchyard {

struct UpstreamRuntime;

// Idle keep-alive connections to one upstream, owned by one worker (not thread-safe). At most
// config.pool_size idle connections are kept; one idle longer than pool_idle_timeout_ms, or that
// the peer has closed, is dropped instead of reused. Pools outlive config reloads when the
// upstream's name, URL and TLS settings are unchanged.
class ConnectionPool;

struct PoolStats {
  std::uint64_t connects = 0;  // new connections opened
  std::uint64_t reuses = 0;    // requests sent on a pooled connection
  std::size_t idle = 0;
};

std::shared_ptr<ConnectionPool> make_connection_pool(const UpstreamRuntime& upstream);
PoolStats pool_stats(const ConnectionPool& pool);

// An Upstream for `runtime` that runs on `io` and draws connections from `pool`. The runtime
// (owned by a Snapshot) and the pool must outlive it.
std::unique_ptr<Upstream> make_http_upstream(boost::asio::io_context& io,
                                             const UpstreamRuntime& runtime,
                                             std::shared_ptr<ConnectionPool> pool);

}  // namespace switchyard

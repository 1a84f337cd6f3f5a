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

std::shared_ptr<ConnectionPool> make_connection_pool(const UpstreamRuntime& upstream);

// Closes the pool's connections that have been idle longer than pool_idle_timeout_ms, so that
// quiet upstreams do not hold sockets open. Called periodically on the owning worker.
void evict_idle_connections(ConnectionPool& pool);

// An Upstream for `runtime` that runs on `io` and draws connections from `pool`. The runtime
// (owned by a Snapshot) and the pool must outlive it.
std::unique_ptr<Upstream> make_http_upstream(boost::asio::io_context& io,
                                             const UpstreamRuntime& runtime,
                                             std::shared_ptr<ConnectionPool> pool);

}  // namespace switchyard

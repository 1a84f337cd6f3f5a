// What one worker keeps across connections: the snapshot new requests start on with the
// upstreams built for it, the upstream connection pools, and its idle client connections.
#pragma once

#include "router/snapshot.hpp"
#include "upstream/http_upstream.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/intrusive/list.hpp>

#include <memory>
#include <unordered_map>

namespace switchyard {

// One worker's view of one snapshot: the snapshot and the upstreams built for it, always taken
// together, so that a Target's upstream index always means the same upstream. A request holds
// it for its whole life. Built and used on that worker only.
class WorkerUpstreams final : public UpstreamSet {
 public:
  Upstream& at(std::uint32_t index) override { return *upstreams_[index]; }
  std::shared_ptr<const Snapshot> snapshot;
  std::vector<std::unique_ptr<Upstream>> upstreams_;
};

// An idle keep-alive connection, listed on its worker while it waits for a request. Owned by its
// session's frame; it leaves the list by itself when destroyed (auto_unlink), so listing a
// connection costs no allocation. The worker sheds one by unlinking it and closing its socket.
struct IdleConnection : boost::intrusive::list_base_hook<
                            boost::intrusive::link_mode<boost::intrusive::auto_unlink>> {
  explicit IdleConnection(boost::asio::ip::tcp::socket& s) : socket(&s) {}
  boost::asio::ip::tcp::socket* socket;
};
using IdleList =
    boost::intrusive::list<IdleConnection, boost::intrusive::constant_time_size<false>>;

// Per-worker state, owned by the Gateway and outliving every session of its worker. Only the
// worker's own thread reads or writes it (install() is posted there), so it takes no lock.
struct WorkerState {
  WorkerState(boost::asio::io_context& io, unsigned index) : io(io), index(index) {}

  // Switches new requests to `snap`, building this worker's upstreams for it. Connection pools
  // carry over for upstreams whose name, URL and TLS settings did not change.
  void install(std::shared_ptr<const Snapshot> snap);

  boost::asio::io_context& io;
  unsigned index;
  std::shared_ptr<WorkerUpstreams> current;  // the snapshot new requests start on
  std::unordered_map<std::string, std::shared_ptr<ConnectionPool>> pools;  // by identity
  std::uint64_t request_counter = 0;
  IdleList idle;  // oldest first
};

// Closes idle upstream connections past their pool_idle_timeout_ms, once a second, for as long
// as the worker runs. Spawned once per worker; ends when cancelled or when the worker's
// io_context is destroyed.
boost::asio::awaitable<void> sweep_idle_connections(WorkerState& worker);

}  // namespace switchyard

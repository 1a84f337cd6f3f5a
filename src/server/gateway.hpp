// The gateway process minus main(): config, workers, listener, reload and drain. Tests run it
// in-process on port 0; main() adds flags and signals.
#pragma once

#include "metrics/metrics.hpp"
#include "router/snapshot.hpp"

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>

namespace switchyard {

class Workers;
class Listener;
class SharedState;
struct WorkerState;

struct GatewayOptions {
  std::string config_path;
  std::string listen_override;  // --listen; empty: server.listen from the config
  unsigned workers = 0;  // 0: server.workers from the config, then usable_cpus()
};

// Shared by all workers; everything here is atomic or immutable.
struct ServerState {
  Metrics metrics;
  std::atomic<bool> draining{false};
  std::atomic<std::uint32_t> in_flight{0};
  std::atomic<std::uint32_t> connections{0};  // open client connections
};

class Gateway {
 public:
  // Loads and validates the config, binds the listener and starts the workers. On failure
  // returns null and sets `error` (a config error names the YAML path).
  static std::unique_ptr<Gateway> start(const GatewayOptions& options, std::string& error);
  ~Gateway();

  unsigned short port() const { return port_; }
  unsigned short admin_port() const { return admin_port_; }  // 0: no server.admin_listen

  // Re-reads the config file; on success swaps the snapshot on every worker (requests in flight
  // finish on the old one), on failure keeps the old one and logs why. Thread-safe.
  bool reload();

  // Watches the config file (following symlinks, as Kubernetes ConfigMaps swap `..data`) and
  // reloads on change, every server.reload_poll_ms. Called from the control thread's loop.
  void poll_config_file();

  // SIGTERM: /readyz turns 503, the API listener closes (the admin listener stays open, so
  // liveness passes while readiness fails), in-flight requests drain for up to
  // server.drain_timeout_s, then the workers stop. Blocks; returns the number of requests that
  // were still running when the timeout cut them off.
  std::uint32_t drain();

  std::shared_ptr<const Snapshot> snapshot() const;
  ServerState& state() { return *state_; }

 private:
  Gateway() = default;
  void install(const std::shared_ptr<const Snapshot>& snap);
  std::string files_signature() const;  // under mutex_

  GatewayOptions options_;
  std::unique_ptr<ServerState> state_;
  // Live per-(upstream, model) state, shared by every snapshot this gateway builds.
  std::shared_ptr<TargetRegistry> registry_ = std::make_shared<TargetRegistry>();
  // What each client key has used, likewise.
  std::shared_ptr<MemoryLedger> ledger_ = std::make_shared<MemoryLedger>();
  // What feedback taught, and the decision log, likewise.
  std::shared_ptr<Learning> learning_ = std::make_shared<Learning>();
  // Each route's cached answers, likewise.
  std::shared_ptr<ResponseCaches> caches_ = std::make_shared<ResponseCaches>();
  std::unique_ptr<SharedState> shared_;  // redis: what replicas share; null without it
  std::unique_ptr<Workers> workers_;
  std::vector<std::unique_ptr<WorkerState>> worker_states_;
  std::unique_ptr<Listener> listener_;
  std::unique_ptr<Listener> admin_listener_;  // server.admin_listen; null without it
  unsigned short port_ = 0;
  unsigned short admin_port_ = 0;

  mutable std::mutex mutex_;  // control plane: reload vs. snapshot()
  std::shared_ptr<const Snapshot> snapshot_;
  std::string file_signature_;  // of the config file and its keys file, when last loaded
  std::string keys_file_;       // clients.keys_file of the last config that parsed
};

}  // namespace switchyard

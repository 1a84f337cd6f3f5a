#include "server/gateway.hpp"

#include "core/clock.hpp"
#include "core/workers.hpp"
#include "server/session.hpp"
#include "server/shared_state.hpp"
#include "server/worker_state.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <spdlog/spdlog.h>

#include <thread>

#include <sys/stat.h>

namespace switchyard {

namespace net = boost::asio;

namespace {

// What identifies the file's current content cheaply: stat() follows the ConfigMap's `..data`
// symlink, so a swap shows up as a new inode even when the mtime is the same.
std::string file_signature(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return {};
  return std::to_string(st.st_ino) + ":" + std::to_string(st.st_size) + ":" +
         std::to_string(st.st_mtim.tv_sec) + "." + std::to_string(st.st_mtim.tv_nsec);
}

}  // namespace

std::unique_ptr<Gateway> Gateway::start(const GatewayOptions& options, std::string& error) {
  std::unique_ptr<Gateway> g(new Gateway());
  g->options_ = options;
  g->state_ = std::make_unique<ServerState>();
  auto loaded = load_config_file(options.config_path);
  if (!loaded.config) {
    error = loaded.error;
    return nullptr;
  }
  g->keys_file_ = loaded.config->clients.keys_file;
  g->file_signature_ = g->files_signature();
  count_protocol_errors_from_zero(g->state_->metrics);
  g->state_->metrics.add_source(g->registry_);
  g->state_->metrics.add_source(g->ledger_);
  auto built = build_snapshot(std::move(*loaded.config), g->state_->metrics, g->registry_,
                              g->ledger_, g->learning_, g->caches_);
  if (!built.snapshot) {
    error = options.config_path + ": " + built.error;
    return nullptr;
  }
  g->snapshot_ = built.snapshot;
  if (const auto& redis = g->snapshot_->config.redis; !redis.host.empty())
    g->shared_ = std::make_unique<SharedState>(redis, *g->ledger_, *g->registry_, *g->caches_,
                                               g->state_->metrics);
  const auto& sc = g->snapshot_->config.server;
  g->workers_ = std::make_unique<Workers>(options.workers ? options.workers : sc.workers);
  for (unsigned i = 0; i < g->workers_->size(); ++i) {
    g->worker_states_.push_back(std::make_unique<WorkerState>(g->workers_->at(i), i));
    g->worker_states_.back()->install(g->snapshot_);
  }
  ServerState* st = g->state_.get();
  auto* states = &g->worker_states_;
  const auto listener = [&](Serves serves) {
    return std::make_unique<Listener>(
        *g->workers_,
        [st, states, serves](net::ip::tcp::socket s, unsigned w) {
          return run_session(std::move(s), *st, *(*states)[w], serves);
        },
        [st] { st->metrics.accept_errors().Increment(); });
  };
  g->listener_ = listener(Serves::everything);
  auto listen = options.listen_override.empty() ? sc.listen : options.listen_override;
  auto port = g->listener_->open(listen);
  if (!port) {
    error = port.error().message;
    return nullptr;
  }
  g->port_ = *port;
  if (!sc.admin_listen.empty()) {
    g->admin_listener_ = listener(Serves::admin_only);
    auto admin_port = g->admin_listener_->open(sc.admin_listen);
    if (!admin_port) {
      error = "server.admin_listen: " + admin_port.error().message;
      return nullptr;
    }
    g->admin_port_ = *admin_port;
  }
  for (auto& ws : g->worker_states_)
    net::co_spawn(ws->io, sweep_idle_connections(*ws), LogIfThrew{"the idle-connection sweeper"});
  g->workers_->start();
  g->listener_->start();
  if (g->admin_listener_) {
    g->admin_listener_->start();
    spdlog::info("admin endpoints on {}:{}",
                 sc.admin_listen.substr(0, sc.admin_listen.rfind(':')), g->admin_port_);
  }
  spdlog::info("switchyard {} listening on {} ({} workers, {} upstreams, {} routes)",
               SWITCHYARD_VERSION, listen.substr(0, listen.rfind(':')) + ":" +
                                       std::to_string(g->port_),
               g->workers_->size(), g->snapshot_->upstreams.size(), g->snapshot_->routes.size());
  return g;
}

Gateway::~Gateway() {
  shared_.reset();
  if (listener_) listener_->close();
  if (admin_listener_) admin_listener_->close();
  if (workers_) workers_->stop_and_join();
  listener_.reset();
  admin_listener_.reset();
  // Pooled sockets must go while their io_context lives; the io_contexts then destroy unfinished
  // sessions, which still unlink themselves from their WorkerState.
  for (auto& ws : worker_states_) {
    ws->current.reset();
    ws->pools.clear();
  }
  workers_.reset();
  worker_states_.clear();
}

std::shared_ptr<const Snapshot> Gateway::snapshot() const {
  std::lock_guard lock(mutex_);
  return snapshot_;
}

void Gateway::install(const std::shared_ptr<const Snapshot>& snap) {
  for (auto& ws : worker_states_)
    net::post(ws->io, [w = ws.get(), snap] { w->install(snap); });
}

bool Gateway::reload() {
  std::lock_guard lock(mutex_);
  file_signature_ = files_signature();
  auto loaded = load_config_file(options_.config_path);
  std::string error = loaded.error;
  std::shared_ptr<const Snapshot> next;
  if (loaded.config && loaded.config->clients.keys_file != keys_file_) {
    keys_file_ = loaded.config->clients.keys_file;
    file_signature_ = files_signature();
  }
  if (loaded.config) {
    auto built = build_snapshot(std::move(*loaded.config), state_->metrics, registry_, ledger_,
                                learning_, caches_);
    next = built.snapshot;
    if (!next) error = options_.config_path + ": " + built.error;
  }
  state_->metrics.config_reload(next != nullptr);
  if (!next) {
    spdlog::error("config reload failed, keeping the running config: {}", error);
    return false;
  }
  const auto& old_server = snapshot_->config.server;
  const auto& new_server = next->config.server;
  if (old_server.listen != new_server.listen || old_server.workers != new_server.workers ||
      old_server.admin_listen != new_server.admin_listen ||
      snapshot_->config.redis != next->config.redis)
    spdlog::warn("server.listen, server.admin_listen, server.workers and redis take effect only "
                 "on restart");
  snapshot_ = next;
  install(next);
  spdlog::info("config reloaded from {}", options_.config_path);
  return true;
}

std::string Gateway::files_signature() const {
  std::string sig = file_signature(options_.config_path);
  if (!sig.empty() && !keys_file_.empty()) sig += "|" + file_signature(keys_file_);
  return sig;
}

void Gateway::poll_config_file() {
  {
    std::lock_guard lock(mutex_);
    const std::string sig = files_signature();
    if (sig.empty() || sig == file_signature_) return;
  }
  reload();
}

std::uint32_t Gateway::drain() {
  state_->draining.store(true);
  listener_->close();
  const auto timeout = std::chrono::seconds(snapshot()->config.server.drain_timeout_s);
  const auto until = steady_now() + timeout;
  while (state_->in_flight.load() > 0 && steady_now() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  auto left = state_->in_flight.load();
  if (left) spdlog::warn("drain timeout: {} request(s) still running are cut off", left);
  workers_->stop_and_join();
  return left;
}

}  // namespace switchyard

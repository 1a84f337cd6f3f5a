// The immutable, validated state every worker reads: config, compiled routes, TLS contexts and
// metric handles. Built on the control thread; handed to workers as shared_ptr<const Snapshot>.
// A request keeps the snapshot it started with until it ends, so a reload never changes a request
// in flight.
#pragma once

#include "metrics/metrics.hpp"
#include "switchyard/config.hpp"
#include "switchyard/router.hpp"
#include "upstream/url.hpp"

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace boost::asio::ssl {
class context;
}

namespace switchyard {

struct UpstreamRuntime {
  const UpstreamConfig* config = nullptr;
  Url url;
  std::shared_ptr<boost::asio::ssl::context> tls;  // null for http://
  std::string authorization;                       // "Bearer <key>", or empty
  LazyCounters* errors = nullptr;                   // by Reason
  // Calls in flight across all workers, against config->max_concurrent. Shared with the next
  // snapshot's runtime of the same name, so calls still running on an old config are counted.
  std::shared_ptr<std::atomic<std::uint32_t>> in_flight;
};

struct CompiledRoute {
  std::string name;
  std::vector<std::unique_ptr<const RouterStage>> stages;
  std::unique_ptr<const Dispatcher> dispatcher;
};

struct Snapshot {
  Config config;
  Metrics* metrics = nullptr;
  std::vector<std::unique_ptr<UpstreamRuntime>> upstreams;
  // Every Target any route or model uses, owned here so pointers stay valid.
  std::vector<std::unique_ptr<Target>> targets;
  // Concrete model name → its targets in upstream order (passthrough requests).
  std::unordered_map<std::string, std::vector<const Target*>> models;
  std::unordered_map<std::string, CompiledRoute> routes;
  std::string models_json;  // the /v1/models body, rendered once
  std::unordered_map<std::string, std::string> model_objects;  // /v1/models/{id} bodies
  std::string model_list;   // "a, b, auto" for 404 messages
  std::vector<std::string> api_keys;
  std::uint32_t max_connections = 0;  // server.max_connections, or derived from RLIMIT_NOFILE

  // The dispatcher for passthrough requests (single, with fallback across upstreams).
  std::unique_ptr<const Dispatcher> passthrough;
};

// What a stage or dispatcher factory may use while the snapshot is being built.
class BuildContext {
 public:
  BuildContext(Snapshot& snapshot, std::string route) : snap_(snapshot), route_(std::move(route)) {}
  // The targets of `model` for this route (every upstream serving it, in config order), or an
  // empty list if no upstream serves it.
  std::vector<const Target*> targets_for(const std::string& model);
  const Snapshot& snapshot() const { return snap_; }
  const std::string& route() const { return route_; }

 private:
  Snapshot& snap_;
  std::string route_;
};

// A factory parses and validates its YAML subtree (given with its path, e.g.
// "routes.auto.stages[0]") and returns the built object, or sets `error` to a message that
// starts with the path of the offending key and returns null.
using StageFactory = std::function<std::unique_ptr<const RouterStage>(
    const StageConfig&, BuildContext&, std::string& error)>;
using DispatcherFactory = std::function<std::unique_ptr<const Dispatcher>(
    const StageConfig&, BuildContext&, std::string& error)>;

// Registered by name; an unknown name stops the build with the config path in the message.
void register_stage(std::string type, StageFactory factory);
void register_dispatcher(std::string type, DispatcherFactory factory);
void register_builtins();  // every built-in stage and dispatcher; idempotent

struct SnapshotBuild {
  std::shared_ptr<const Snapshot> snapshot;
  std::string error;
};

// Compiles a validated Config: URLs, TLS contexts, routes and metric handles. `previous` (the
// running snapshot, on reload) lends its per-upstream concurrency counters. Control plane only.
SnapshotBuild build_snapshot(Config config, Metrics& metrics, const Snapshot* previous = nullptr);

}  // namespace switchyard

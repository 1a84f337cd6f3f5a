// The immutable, validated state every worker reads: config, compiled routes, TLS contexts and
// metric handles. Built on the control thread; handed to workers as shared_ptr<const Snapshot>.
// A request keeps the snapshot it started with until it ends, so a reload never changes a request
// in flight.
#pragma once

#include "metrics/metrics.hpp"
#include "router/clients.hpp"
#include "router/registry.hpp"
#include "switchyard/config.hpp"
#include "switchyard/extension.hpp"
#include "switchyard/router.hpp"
#include "upstream/upstream_runtime.hpp"

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace switchyard {

struct CompiledRoute {
  std::string name;
  std::vector<std::unique_ptr<const RouterStage>> stages;
  std::unique_ptr<const Dispatcher> dispatcher;
  LazyCounters* cache_lookups = nullptr;  // switchyard_cache_requests_total of this route
};

struct Snapshot {
  Config config;
  Metrics* metrics = nullptr;
  // Live per-(upstream, model) state and the outcome sink, shared with the snapshots before and
  // after this one.
  std::shared_ptr<TargetRegistry> registry;
  std::vector<std::unique_ptr<UpstreamRuntime>> upstreams;
  // Every Target any route or model uses, owned here so pointers stay valid.
  std::vector<std::unique_ptr<Target>> targets;
  // Concrete model name → its targets in upstream order (passthrough requests).
  std::unordered_map<std::string, std::vector<const Target*>> models;
  std::unordered_map<std::string, CompiledRoute> routes;
  std::string models_json;  // the /v1/models body, rendered once
  std::unordered_map<std::string, std::string> model_objects;  // /v1/models/{id} bodies
  std::vector<std::string> model_ids;  // in /v1/models order
  std::string model_list;   // "a, b, auto" for 404 messages
  // Client keys by their SHA-256 (raw bytes); empty: no client authentication.
  std::unordered_map<std::string, Client> clients;
  std::shared_ptr<ClientLedger> ledger;  // the gateway's; shared with the snapshots around it
  std::uint32_t max_connections = 0;  // server.max_connections, or derived from RLIMIT_NOFILE

  // The dispatcher for passthrough requests (single, with fallback across upstreams).
  std::unique_ptr<const Dispatcher> passthrough;
};

void register_builtins();  // every built-in stage and dispatcher; idempotent

struct SnapshotBuild {
  std::shared_ptr<const Snapshot> snapshot;
  std::string error;
};

// Compiles a validated Config: URLs, TLS contexts, routes and metric handles. Live state comes
// from `registry` and `ledger` (the gateway's, so that in-flight counts, statistics and what each
// client has spent carry over a reload); without them the snapshot gets its own. Control plane
// only.
SnapshotBuild build_snapshot(Config config, Metrics& metrics,
                             std::shared_ptr<TargetRegistry> registry = nullptr,
                             std::shared_ptr<ClientLedger> ledger = nullptr);

}  // namespace switchyard

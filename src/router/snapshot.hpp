// The immutable, validated state every worker reads: config, compiled routes, TLS contexts and
// metric handles. Built on the control thread; handed to workers as shared_ptr<const Snapshot>.
// A request keeps the snapshot it started with until it ends, so a reload never changes a request
// in flight.
#pragma once

#include "metrics/metrics.hpp"
#include "router/cache/caches.hpp"
#include "router/clients.hpp"
#include "router/feedback.hpp"
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
  // What its answered requests cost against what its strongest model (the priciest its stages
  // name) alone would have cost for the same answers.
  Metrics::Savings savings;
  const ModelConfig* strongest = nullptr;
  // An A/B split (RouteConfig::split): this share of callers is served by `arm` instead.
  const CompiledRoute* arm = nullptr;
  double arm_share = 0;       // 0..1
  bool split_by_session = false;  // else by the client key's name
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
  std::shared_ptr<Learning> learning;    // likewise: feedback and what it taught
  std::shared_ptr<ResponseCaches> caches;  // likewise: the routes' cached answers
  std::shared_ptr<JsonlLog> decision_log;  // null unless decision_log.path is set
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
// from `registry`, `ledger`, `learning` and `caches` (the gateway's, so that in-flight counts,
// statistics, what each client has spent, what feedback taught and cached answers carry over a
// reload); without them the snapshot gets its own. A successful build applies the feedback
// settings to `learning` and takes its decision log. Control plane only.
SnapshotBuild build_snapshot(Config config, Metrics& metrics,
                             std::shared_ptr<TargetRegistry> registry = nullptr,
                             std::shared_ptr<ClientLedger> ledger = nullptr,
                             std::shared_ptr<Learning> learning = nullptr,
                             std::shared_ptr<ResponseCaches> caches = nullptr);

}  // namespace switchyard

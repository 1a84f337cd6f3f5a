// The validated configuration: plain values, built once by config/ and never mutated after.
// Workers see it only through an immutable Snapshot (router/snapshot.hpp).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace YAML {
class Node;
}

namespace switchyard {

struct ServerConfig {
  std::string listen = "127.0.0.1:8080";
  // Empty: none. Otherwise a second listener serving only /healthz, /readyz and /metrics, still
  // open while the gateway drains, so probes and scrapes reach the pod IP while the API listens on
  // loopback (a sidecar).
  std::string admin_listen;
  unsigned workers = 0;  // 0: one per core
  std::uint64_t max_body_bytes = 4 * 1024 * 1024;
  std::uint32_t max_header_bytes = 16 * 1024;
  std::uint32_t header_timeout_ms = 10'000;
  std::uint32_t body_timeout_ms = 30'000;
  std::uint32_t idle_timeout_ms = 60'000;
  std::uint32_t max_concurrent_requests = 1024;
  std::uint32_t max_connections = 0;  // 0: half the descriptor limit, less a reserve
  std::uint32_t drain_timeout_s = 30;
  bool log_prompts = false;
  std::uint32_t reload_poll_ms = 1000;  // 0: reload on SIGHUP only
};

struct PriceUsdPerMtok {
  double input = 0;
  double output = 0;
};

struct ModelConfig {
  std::string name;  // what clients send as "model"
  std::string id;    // what the upstream is sent; defaults to name
  PriceUsdPerMtok price_usd_per_mtok;
};

// When one (upstream, model) stops taking traffic for a while (switchyard/live.hpp: Breaker).
struct BreakerConfig {
  bool enabled = true;
  std::uint32_t consecutive_failures = 5;  // opens after this many failures in a row
  double error_ratio = 0.5;  // or when this share of recent calls failed (weighted average)
  std::uint32_t min_calls = 20;           // ... once it has judged at least this many calls
  std::uint32_t latency_ceiling_ms = 0;   // or when the average answer takes longer; 0: off
  std::uint32_t open_ms = 2'000;          // the first time open; doubles on each failed probe
  std::uint32_t max_open_ms = 10'000;
  std::uint32_t probes_to_close = 3;  // half-open: answered probes in a row that close it
};

struct TlsConfig {
  std::string ca_file;  // empty: the system CAs
  bool insecure_skip_verify = false;
};

struct UpstreamConfig {
  std::string name;
  std::string base_url;  // http(s)://host[:port][/prefix], e.g. https://api.openai.com/v1
  // gen_ai.provider.name in metrics (OpenTelemetry's values: openai, anthropic, ...); by default
  // known from base_url's host, else the upstream's name.
  std::string provider;
  std::string api_key;   // already expanded from ${ENV}; never logged
  std::vector<ModelConfig> models;
  std::uint32_t max_concurrent = 256;
  // A self-hosted endpoint's price per hour, whatever it serves: each call costs its share of
  // the endpoint's time, usd_per_hour × duration / max_concurrent, besides any token prices.
  double usd_per_hour = 0;
  std::uint32_t pool_size = 32;  // idle keep-alive connections kept per worker
  std::uint32_t pool_idle_timeout_ms = 30'000;
  std::uint32_t connect_timeout_ms = 3'000;
  std::uint32_t first_token_timeout_ms = 30'000;
  std::uint32_t total_timeout_ms = 300'000;
  std::uint32_t idle_stream_timeout_ms = 30'000;
  // Ask for usage on every stream (stream_options.include_usage), for cost accounting; turn off
  // for upstreams that reject stream_options (the gateway then estimates).
  bool stream_include_usage = true;
  // The largest non-streamed answer held in memory for one call; larger is a 502.
  std::uint64_t max_response_bytes = 64ull << 20;
  // Response headers relayed to the client besides the built-in allowlist (x-ratelimit-*,
  // openai-*, x-sim-*, request ids). A trailing '*' matches a prefix. Case-insensitive.
  std::vector<std::string> relay_headers;
  TlsConfig tls;
  BreakerConfig breaker;
};

// One element of a route's chain: a stage or the dispatcher, with its own YAML subtree that the
// registered factory of `type` parses and validates.
struct StageConfig {
  std::string type;
  std::string path;                    // e.g. "routes.auto.stages[0]", for error messages
  std::shared_ptr<const YAML::Node> node;  // the whole mapping, type included
};

// An A/B experiment on a route: `percent` of its callers, picked by a stable hash of `by` (the
// client key's name, or the request's session: x-session-id, prompt_cache_key or user), are
// served by the route `arm` instead. The route's own chain is the control arm.
struct SplitConfig {
  std::string arm;       // another route's name
  double percent = 0;    // 0 to 100
  std::string by = "key";  // "key" or "session"
};

struct RouteConfig {
  std::string name;
  std::vector<StageConfig> stages;
  StageConfig dispatcher;
  std::optional<SplitConfig> split;
};

// The decision log (server/decision_log.hpp): one JSON line per API request and per feedback,
// for `switchyard train --from-log` and `switchyard eval --log`.
struct DecisionLogConfig {
  std::string path;  // empty: no log; relative paths are to the config file's folder
  std::uint64_t max_bytes = 100ull << 20;  // the file is rotated at this size
  std::uint32_t max_files = 5;  // rotated files kept (d.1.jsonl … d.N.jsonl), besides d.jsonl
  bool prompts = false;  // log each prompt's text (training from the log needs it)

  bool operator==(const DecisionLogConfig&) const = default;
};

// The most answers kept open for feedback: their index is allocated whole (16 to 32 bytes
// each), their slots reserved whole (about 160 bytes each of address space, used as filled).
inline constexpr std::uint32_t kMaxPendingFeedback = 1'000'000;

// Feedback on answers (POST /v1/feedback, router/feedback.hpp).
struct FeedbackConfig {
  std::uint32_t window_s = 3600;      // a request takes feedback for this long after it ended
  std::uint32_t max_pending = 20'000;  // requests remembered for feedback; 0: no feedback
  std::uint32_t half_life_s = 86'400;  // the weight of a feedback halves over this long
};

// One client key (router/clients.hpp): who it is, what it may use and how much. The key itself
// is never kept, only its SHA-256.
struct ClientConfig {
  std::string name;        // unique; the metrics label and the access log's `client`
  std::string key_sha256;  // 32 raw bytes
  std::string tier = "standard";      // read by the scorer's `tiers`
  std::vector<std::string> routes;    // the routes it may call; empty: every route
  std::vector<std::string> models;    // the models it may call or be routed to; empty: all
  std::uint32_t requests_per_minute = 0;  // 0: unlimited
  std::uint64_t tokens_per_minute = 0;    // input and output tokens; 0: unlimited
  double budget_usd_per_day = 0;          // UTC days; 0: unlimited
  double budget_usd_per_month = 0;        // UTC calendar months; 0: unlimited
};

struct ClientsConfig {
  std::string keys_file;  // more keys, read with the config and watched with it; may be empty
  // clients.keys, then the keys file's, then server.api_keys (named "api_keys[i]", no limits).
  // Empty: no client authentication.
  std::vector<ClientConfig> keys;
};

// Shared state across replicas (server/shared_state.hpp). Without `host`, every replica keeps its
// own. Read at start only.
struct RedisConfig {
  std::string host;  // empty: no Redis
  std::uint16_t port = 6379;
  std::string password;  // a ${VAR}; empty: no AUTH
  std::uint32_t db = 0;
  std::string key_prefix = "switchyard";
  std::uint32_t timeout_ms = 100;  // connect, and each round trip
  std::uint32_t sync_ms = 100;     // how often each replica exchanges its counts

  bool operator==(const RedisConfig&) const = default;
};

struct Config {
  std::string source_path;  // the file it came from, for reload
  ServerConfig server;
  ClientsConfig clients;
  std::vector<UpstreamConfig> upstreams;
  std::vector<RouteConfig> routes;
  DecisionLogConfig decision_log;
  FeedbackConfig feedback;
  RedisConfig redis;
};

// Outcome of loading: a Config, or one message that starts with the YAML path at fault, e.g.
// "upstreams[1].models[0].price_usd_per_mtok: expected a mapping with input and output".
struct ConfigLoad {
  std::optional<Config> config;
  std::string error;
};

// Parses YAML text strictly: unknown or repeated keys, wrong types, missing ${ENV} variables,
// secrets that are not exactly one ${VAR} and dangling model references are errors. Route stages
// are only checked for shape here, except for repeated keys; their factories validate their own
// subtrees when a Snapshot is built.
ConfigLoad parse_config(const std::string& yaml_text, std::string source_path);

// Reads and parses a file; a missing or unreadable file, or one over 1 MiB, is an error naming
// the path.
ConfigLoad load_config_file(const std::string& path);

}  // namespace switchyard

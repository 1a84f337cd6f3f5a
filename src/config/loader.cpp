// YAML → Config. yaml-cpp throws; every exception is caught here and turned into a message that
// starts with the path of the offending node.
#include "switchyard/config.hpp"

#include "config/yaml_map.hpp"
#include "core/sha256.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <set>
#include <stdexcept>

namespace switchyard {

namespace {

constexpr std::size_t kMaxConfigBytes = 1024 * 1024;

enum class FileRead : std::uint8_t { ok, cannot_open, cannot_read, too_large };

// Reads `path` into `text`, up to kMaxConfigBytes. It reads one byte past the cap rather than
// trust a size asked for first: the file may grow meanwhile, or be a pipe. A config is a few
// KiB; the cap only stops a wrong or hostile file.
FileRead read_capped(const std::string& path, std::string& text) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return FileRead::cannot_open;
  text.assign(kMaxConfigBytes + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  if (in.bad()) return FileRead::cannot_read;
  text.resize(static_cast<std::size_t>(in.gcount()));
  return text.size() > kMaxConfigBytes ? FileRead::too_large : FileRead::ok;
}

std::string idx(const std::string& path, std::size_t i) {
  return path + "[" + std::to_string(i) + "]";
}

void require_positive(std::uint32_t v, const std::string& path) {
  if (v == 0) fail(path, "must be greater than 0");
}

ServerConfig read_server(const YAML::Node& n, std::vector<ClientConfig>& api_keys) {
  ServerConfig s;
  if (!n) return s;
  Map m(n, "server");
  m.opt("listen", s.listen);
  m.opt("admin_listen", s.admin_listen);
  m.opt("workers", s.workers);
  m.opt("max_body_bytes", s.max_body_bytes);
  m.opt("max_header_bytes", s.max_header_bytes);
  m.opt("header_timeout_ms", s.header_timeout_ms);
  m.opt("body_timeout_ms", s.body_timeout_ms);
  m.opt("idle_timeout_ms", s.idle_timeout_ms);
  m.opt("max_concurrent_requests", s.max_concurrent_requests);
  m.opt("max_connections", s.max_connections);
  m.opt("drain_timeout_s", s.drain_timeout_s);
  if (auto keys = m.get("api_keys"); keys && !keys.IsNull()) {
    if (!keys.IsSequence()) fail(m.at("api_keys"), "expected a list of strings");
    for (std::size_t i = 0; i < keys.size(); ++i) {
      ClientConfig c;
      c.name = "api_keys[" + std::to_string(i) + "]";
      c.key_sha256 = sha256(read_secret(keys[i], idx(m.at("api_keys"), i)));
      api_keys.push_back(std::move(c));
    }
  }
  m.opt("log_prompts", s.log_prompts);
  m.opt("reload_poll_ms", s.reload_poll_ms);
  m.finish();
  if (s.listen.rfind(':') == std::string::npos) fail("server.listen", "expected HOST:PORT");
  if (!s.admin_listen.empty() && s.admin_listen.rfind(':') == std::string::npos)
    fail("server.admin_listen", "expected HOST:PORT");
  require_positive(s.max_header_bytes, "server.max_header_bytes");
  require_positive(s.header_timeout_ms, "server.header_timeout_ms");
  require_positive(s.body_timeout_ms, "server.body_timeout_ms");
  require_positive(s.idle_timeout_ms, "server.idle_timeout_ms");
  require_positive(s.max_concurrent_requests, "server.max_concurrent_requests");
  if (s.max_body_bytes == 0) fail("server.max_body_bytes", "must be greater than 0");
  return s;
}

// OpenTelemetry's gen_ai.provider.name for the well-known hosts of OpenAI-compatible APIs.
std::string provider_of(const std::string& base_url, const std::string& fallback) {
  const auto start = base_url.find("://");
  const auto host_begin = start == std::string::npos ? 0 : start + 3;
  const auto host = base_url.substr(host_begin, base_url.find_first_of(":/", host_begin) - host_begin);
  const auto ends_with = [&](std::string_view suffix) { return host.ends_with(suffix); };
  if (ends_with("api.openai.com")) return "openai";
  if (ends_with(".openai.azure.com")) return "azure.ai.openai";
  if (ends_with("api.anthropic.com")) return "anthropic";
  if (ends_with("generativelanguage.googleapis.com")) return "gcp.gemini";
  if (ends_with("aiplatform.googleapis.com")) return "gcp.vertex_ai";
  if (ends_with("api.mistral.ai")) return "mistral_ai";
  if (ends_with("api.groq.com")) return "groq";
  if (ends_with("api.deepseek.com")) return "deepseek";
  if (ends_with("api.x.ai")) return "x_ai";
  if (ends_with("api.perplexity.ai")) return "perplexity";
  if (ends_with("api.cohere.com") || ends_with("api.cohere.ai")) return "cohere";
  return fallback;
}

UpstreamConfig read_upstream(const YAML::Node& n, const std::string& path) {
  UpstreamConfig u;
  Map m(n, path);
  m.req("name", u.name);
  m.req("base_url", u.base_url);
  m.opt("provider", u.provider);
  if (auto k = m.get("api_key"); k && !k.IsNull()) u.api_key = read_secret(k, m.at("api_key"));
  m.opt("max_concurrent", u.max_concurrent);
  m.opt("usd_per_hour", u.usd_per_hour);
  m.opt("pool_size", u.pool_size);
  m.opt("pool_idle_timeout_ms", u.pool_idle_timeout_ms);
  m.opt("connect_timeout_ms", u.connect_timeout_ms);
  m.opt("first_token_timeout_ms", u.first_token_timeout_ms);
  m.opt("total_timeout_ms", u.total_timeout_ms);
  m.opt("idle_stream_timeout_ms", u.idle_stream_timeout_ms);
  m.opt("stream_include_usage", u.stream_include_usage);
  m.opt("max_response_bytes", u.max_response_bytes);
  m.opt("relay_headers", u.relay_headers);
  if (auto t = m.get("tls"); t && !t.IsNull()) {
    Map tm(t, m.at("tls"));
    tm.opt("ca_file", u.tls.ca_file);
    tm.opt("insecure_skip_verify", u.tls.insecure_skip_verify);
    tm.finish();
  }
  if (auto b = m.get("breaker"); b && !b.IsNull()) {
    Map bm(b, m.at("breaker"));
    auto& c = u.breaker;
    bm.opt("enabled", c.enabled);
    bm.opt("consecutive_failures", c.consecutive_failures);
    bm.opt("error_ratio", c.error_ratio);
    bm.opt("min_calls", c.min_calls);
    bm.opt("latency_ceiling_ms", c.latency_ceiling_ms);
    bm.opt("open_ms", c.open_ms);
    bm.opt("max_open_ms", c.max_open_ms);
    bm.opt("probes_to_close", c.probes_to_close);
    bm.finish();
    require_positive(c.probes_to_close, bm.at("probes_to_close"));
    require_positive(c.consecutive_failures, bm.at("consecutive_failures"));
    if (!(c.error_ratio > 0 && c.error_ratio <= 1))
      fail(bm.at("error_ratio"), "must be greater than 0 and at most 1");
    require_positive(c.open_ms, bm.at("open_ms"));
    if (c.max_open_ms < c.open_ms) fail(bm.at("max_open_ms"), "must be at least open_ms");
  }
  auto models = m.get("models");
  if (!models || !models.IsSequence() || models.size() == 0)
    fail(m.at("models"), "expected a non-empty list of models");
  for (std::size_t i = 0; i < models.size(); ++i) {
    std::string mp = idx(m.at("models"), i);
    ModelConfig mc;
    Map mm(models[i], mp);
    mm.req("name", mc.name);
    mm.opt("id", mc.id);
    if (mc.id.empty()) mc.id = mc.name;
    auto price = mm.get("price_usd_per_mtok");
    if (price && !price.IsNull()) {
      if (!price.IsMap())
        fail(mm.at("price_usd_per_mtok"), "expected a mapping with input and output");
      Map pm(price, mm.at("price_usd_per_mtok"));
      pm.req("input", mc.price_usd_per_mtok.input);
      pm.req("output", mc.price_usd_per_mtok.output);
      pm.finish();
    }
    mm.finish();
    u.models.push_back(std::move(mc));
  }
  m.finish();
  if (!(u.base_url.rfind("http://", 0) == 0 || u.base_url.rfind("https://", 0) == 0))
    fail(m.at("base_url"), "must start with http:// or https://");
  if (u.provider.empty()) u.provider = provider_of(u.base_url, u.name);
  require_positive(u.max_concurrent, m.at("max_concurrent"));
  require_positive(u.connect_timeout_ms, m.at("connect_timeout_ms"));
  require_positive(u.first_token_timeout_ms, m.at("first_token_timeout_ms"));
  require_positive(u.total_timeout_ms, m.at("total_timeout_ms"));
  require_positive(u.idle_stream_timeout_ms, m.at("idle_stream_timeout_ms"));
  if (u.max_response_bytes == 0) fail(m.at("max_response_bytes"), "must be greater than 0");
  for (std::size_t i = 0; i < u.relay_headers.size(); ++i) {
    const auto& h = u.relay_headers[i];
    const auto name = h.ends_with('*') ? h.substr(0, h.size() - 1) : h;
    constexpr const char* kToken =
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_";
    if (name.empty() || name.find_first_not_of(kToken) != std::string::npos)
      fail(idx(m.at("relay_headers"), i), "expected a header name, optionally ending in *");
  }
  return u;
}

StageConfig read_stage(const YAML::Node& n, const std::string& path) {
  if (!n.IsMap()) fail(path, "expected a mapping with a type");
  auto t = n["type"];
  if (!t || !t.IsScalar()) fail(path + ".type", "is required");
  return StageConfig{t.Scalar(), path, std::make_shared<const YAML::Node>(YAML::Clone(n))};
}

// One client key. In the config a raw key must be a ${VAR} reference; a keys file is a secret
// itself (a mounted Kubernetes Secret, say), so there it may be written out (`literal_keys`).
ClientConfig read_client(const YAML::Node& n, const std::string& path, bool literal_keys) {
  ClientConfig c;
  Map m(n, path);
  m.req("name", c.name);
  // The name is a metrics label and goes into JSON and log lines unescaped.
  if (c.name.empty() || c.name.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOP"
                                                 "QRSTUVWXYZ0123456789-_.:@/") != std::string::npos)
    fail(m.at("name"), "expected letters, digits and - _ . : @ / only");
  auto key = m.get("key");
  auto hash = m.get("key_sha256");
  if (!key == !hash) fail(path, "needs exactly one of key and key_sha256");
  if (key && literal_keys) {
    if (!key.IsScalar() || key.Scalar().empty()) fail(m.at("key"), "expected a non-empty string");
    c.key_sha256 = sha256(key.Scalar());
  } else if (key) {
    c.key_sha256 = sha256(read_secret(key, m.at("key")));
  } else {
    std::string hex;
    Map::read(hash, m.at("key_sha256"), hex);
    for (char& ch : hex) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    if (hex.size() != 64 || hex.find_first_not_of("0123456789abcdef") != std::string::npos)
      fail(m.at("key_sha256"), "expected 64 hex digits (sha256sum of the key)");
    for (std::size_t i = 0; i < 64; i += 2)
      c.key_sha256 += static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
  }
  m.opt("tier", c.tier);
  m.opt("routes", c.routes);
  m.opt("models", c.models);
  m.opt("requests_per_minute", c.requests_per_minute);
  m.opt("tokens_per_minute", c.tokens_per_minute);
  m.opt("budget_usd_per_day", c.budget_usd_per_day);
  m.opt("budget_usd_per_month", c.budget_usd_per_month);
  m.finish();
  if (c.tier.empty()) fail(m.at("tier"), "must not be empty");
  return c;
}

void read_clients_list(const YAML::Node& list, const std::string& path, bool literal_keys,
                       std::vector<ClientConfig>& out) {
  if (!list.IsSequence()) fail(path, "expected a list of keys");
  for (std::size_t i = 0; i < list.size(); ++i)
    out.push_back(read_client(list[i], idx(path, i), literal_keys));
}

// `path` as seen from the config file's folder, unless it is absolute.
std::string beside(const std::string& config_path, const std::string& path) {
  if (path.front() == '/' || config_path.rfind('/') == std::string::npos) return path;
  return config_path.substr(0, config_path.rfind('/') + 1) + path;
}

// The keys file: a YAML list of keys, shaped like clients.keys. Relative to the config's folder.
void read_keys_file(ClientsConfig& c, const std::string& config_path) {
  const std::string path = beside(config_path, c.keys_file);
  c.keys_file = path;
  std::string text;
  switch (read_capped(path, text)) {
    case FileRead::ok: break;
    case FileRead::cannot_open: fail("clients.keys_file", "cannot open \"" + path + "\"");
    default: fail("clients.keys_file", "cannot read \"" + path + "\" (or it is over 1 MiB)");
  }
  auto root = YAML::Load(text);
  check_document(root);
  read_clients_list(root, path, true, c.keys);
}

ClientsConfig read_clients(const YAML::Node& n, const std::string& config_path) {
  ClientsConfig c;
  if (!n || n.IsNull()) return c;
  Map m(n, "clients");
  if (auto keys = m.get("keys"); keys && !keys.IsNull())
    read_clients_list(keys, m.at("keys"), false, c.keys);
  m.opt("keys_file", c.keys_file);
  m.finish();
  if (!c.keys_file.empty()) read_keys_file(c, config_path);
  return c;
}

// Names and keys are unique; routes and models a key may use exist.
void check_clients(const Config& c, const std::set<std::string>& model_names) {
  std::set<std::string> names, hashes, routes;
  for (const auto& r : c.routes) routes.insert(r.name);
  for (const auto& k : c.clients.keys) {
    const std::string at = "clients: key \"" + k.name + "\"";
    if (!names.insert(k.name).second) fail(at, "the name is used twice");
    if (!hashes.insert(k.key_sha256).second) fail(at, "its key is also another entry's key");
    for (const auto& r : k.routes)
      if (!routes.count(r)) fail(at + ".routes", "no route is called \"" + r + "\"");
    for (const auto& mn : k.models)
      if (!model_names.count(mn)) fail(at + ".models", "no upstream serves \"" + mn + "\"");
  }
}

RouteConfig read_route(const std::string& name, const YAML::Node& n, const std::string& path) {
  RouteConfig r;
  r.name = name;
  Map m(n, path);
  auto stages = m.get("stages");
  if (stages && !stages.IsNull()) {
    if (!stages.IsSequence()) fail(m.at("stages"), "expected a list");
    for (std::size_t i = 0; i < stages.size(); ++i)
      r.stages.push_back(read_stage(stages[i], idx(m.at("stages"), i)));
  }
  auto d = m.get("dispatcher");
  if (!d || d.IsNull()) {
    YAML::Node def;
    def["type"] = "single";
    r.dispatcher = read_stage(def, m.at("dispatcher"));
  } else {
    r.dispatcher = read_stage(d, m.at("dispatcher"));
  }
  if (auto sp = m.get("split"); sp && !sp.IsNull()) {
    Map sm(sp, m.at("split"));
    SplitConfig s;
    sm.req("arm", s.arm);
    sm.req("percent", s.percent);
    sm.opt("by", s.by);
    sm.finish();
    if (!(s.percent >= 0 && s.percent <= 100)) fail(sm.at("percent"), "must be 0 to 100");
    if (s.by != "key" && s.by != "session") fail(sm.at("by"), "expected key or session");
    r.split = std::move(s);
  }
  m.finish();
  return r;
}

Config read_config(const YAML::Node& root, std::string source_path) {
  Config c;
  c.source_path = std::move(source_path);
  if (!root || root.IsNull()) fail("(root)", "the file is empty");
  Map m(root, "");
  std::vector<ClientConfig> api_keys;
  c.server = read_server(m.get("server"), api_keys);
  c.clients = read_clients(m.get("clients"), c.source_path);
  for (auto& k : api_keys) c.clients.keys.push_back(std::move(k));
  auto ups = m.get("upstreams");
  if (!ups || !ups.IsSequence() || ups.size() == 0)
    fail("upstreams", "expected a non-empty list");
  std::set<std::string> upstream_names, model_names;
  for (std::size_t i = 0; i < ups.size(); ++i) {
    auto u = read_upstream(ups[i], idx("upstreams", i));
    // Names echo the raw text: an expanded ${VAR} might be a secret.
    if (!upstream_names.insert(u.name).second)
      fail(idx("upstreams", i) + ".name", "duplicate upstream \"" + ups[i]["name"].Scalar() + "\"");
    std::set<std::string> here;
    for (std::size_t k = 0; k < u.models.size(); ++k) {
      if (!here.insert(u.models[k].name).second)
        fail(idx(idx("upstreams", i) + ".models", k) + ".name",
             "model \"" + ups[i]["models"][k]["name"].Scalar() + "\" listed twice");
      model_names.insert(u.models[k].name);
    }
    c.upstreams.push_back(std::move(u));
  }
  auto routes = m.get("routes");
  if (routes && !routes.IsNull()) {
    if (!routes.IsMap()) fail("routes", "expected a mapping of route name to route");
    for (const auto& kv : routes) {
      auto name = kv.first.as<std::string>();
      if (model_names.count(name))
        fail("routes." + name, "route name collides with a model of the same name");
      c.routes.push_back(read_route(name, kv.second, "routes." + name));
    }
  }
  for (const auto& r : c.routes) {
    if (!r.split) continue;
    const std::string at = "routes." + r.name + ".split.arm";
    auto arm = std::find_if(c.routes.begin(), c.routes.end(),
                            [&](const RouteConfig& o) { return o.name == r.split->arm; });
    if (arm == c.routes.end()) fail(at, "no route is called \"" + r.split->arm + "\"");
    if (arm->split || arm->name == r.name) fail(at, "an arm must be another route without a split");
  }
  if (auto d = m.get("decision_log"); d && !d.IsNull()) {
    Map dm(d, "decision_log");
    auto& l = c.decision_log;
    dm.req("path", l.path);
    dm.opt("max_bytes", l.max_bytes);
    dm.opt("max_files", l.max_files);
    dm.opt("prompts", l.prompts);
    dm.finish();
    if (l.path.empty()) fail(dm.at("path"), "must not be empty");
    if (l.max_bytes < 4096) fail(dm.at("max_bytes"), "must be at least 4096");
    l.path = beside(c.source_path, l.path);
  }
  if (auto r = m.get("redis"); r && !r.IsNull()) {
    Map rm(r, "redis");
    auto& rc = c.redis;
    rm.req("host", rc.host);
    rm.opt("port", rc.port);
    if (auto p = rm.get("password"); p && !p.IsNull())
      rc.password = read_secret(p, rm.at("password"));
    rm.opt("db", rc.db);
    rm.opt("key_prefix", rc.key_prefix);
    rm.opt("timeout_ms", rc.timeout_ms);
    rm.opt("sync_ms", rc.sync_ms);
    rm.finish();
    if (rc.host.empty()) fail(rm.at("host"), "must not be empty");
    if (rc.port == 0) fail(rm.at("port"), "must be greater than 0");
    require_positive(rc.timeout_ms, rm.at("timeout_ms"));
    require_positive(rc.sync_ms, rm.at("sync_ms"));
  }
  if (auto f = m.get("feedback"); f && !f.IsNull()) {
    Map fm(f, "feedback");
    auto& fb = c.feedback;
    fm.opt("window_s", fb.window_s);
    fm.opt("max_pending", fb.max_pending);
    fm.opt("half_life_s", fb.half_life_s);
    fm.finish();
    require_positive(fb.window_s, fm.at("window_s"));
    require_positive(fb.half_life_s, fm.at("half_life_s"));
    if (fb.max_pending > kMaxPendingFeedback)
      fail(fm.at("max_pending"), "must be at most " + std::to_string(kMaxPendingFeedback));
  }
  m.finish();
  check_clients(c, model_names);
  return c;
}

}  // namespace

ConfigLoad parse_config(const std::string& yaml_text, std::string source_path) {
  ConfigLoad out;
  read_guarded(out.error, [&] {
    auto root = YAML::Load(yaml_text);
    check_document(root);
    out.config = read_config(root, std::move(source_path));
  });
  return out;
}

ConfigLoad load_config_file(const std::string& path) {
  std::string text;
  switch (read_capped(path, text)) {
    case FileRead::ok: break;
    case FileRead::cannot_open: return {std::nullopt, path + ": cannot open file"};
    case FileRead::cannot_read: return {std::nullopt, path + ": cannot read file"};
    case FileRead::too_large:
      return {std::nullopt,
              path + ": file is larger than " + std::to_string(kMaxConfigBytes) + " bytes"};
  }
  auto out = parse_config(text, path);
  if (!out.config) out.error = path + ": " + out.error;
  return out;
}

}  // namespace switchyard

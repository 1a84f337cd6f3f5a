#include "router/snapshot.hpp"

#include <boost/asio/ssl/context.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>
#include <yaml-cpp/yaml.h>

#include <map>
#include <mutex>

#include <sys/resource.h>

namespace switchyard {

namespace {

struct Factories {
  std::mutex mutex;
  std::map<std::string, StageFactory> stages;
  std::map<std::string, DispatcherFactory> dispatchers;
};

Factories& factories() {
  static Factories r;
  return r;
}

template <class Map>
std::string known_names(const Map& m) {
  std::string out;
  for (const auto& [name, _] : m) out += (out.empty() ? "" : ", ") + name;
  return out;
}

std::shared_ptr<boost::asio::ssl::context> make_tls(const UpstreamConfig& u, std::string& error,
                                                   const std::string& path) {
  namespace ssl = boost::asio::ssl;
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_client);
  boost::system::error_code ec;
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                   ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
  if (u.tls.insecure_skip_verify) {
    spdlog::warn("{}.tls.insecure_skip_verify is set: the certificate of {} is NOT verified", path,
                 u.base_url);
    ctx->set_verify_mode(ssl::verify_none);
    return ctx;
  }
  ctx->set_verify_mode(ssl::verify_peer, ec);
  if (u.tls.ca_file.empty())
    ctx->set_default_verify_paths(ec);
  else
    ctx->load_verify_file(u.tls.ca_file, ec);
  if (ec) {
    error = path + (u.tls.ca_file.empty() ? ": cannot load the system CAs: "
                                          : ".tls.ca_file: cannot load \"" + u.tls.ca_file +
                                                "\": ") +
            ec.message();
    return nullptr;
  }
  return ctx;
}

}  // namespace

void register_stage(std::string type, StageFactory factory) {
  std::lock_guard lock(factories().mutex);
  factories().stages[std::move(type)] = std::move(factory);
}

void register_dispatcher(std::string type, DispatcherFactory factory) {
  std::lock_guard lock(factories().mutex);
  factories().dispatchers[std::move(type)] = std::move(factory);
}

Error config_error(std::string message) { return make_error(Reason::internal, std::move(message)); }

namespace {

// A factory's view of the snapshot being built: its route and the targets it asks for, which
// the snapshot owns.
class SnapshotBuildContext final : public BuildContext {
 public:
  SnapshotBuildContext(Snapshot& snapshot, std::string route)
      : snap_(snapshot), route_(std::move(route)) {}

  std::string_view route() const override { return route_; }
  std::string_view model_list() const override { return snap_.model_list; }
  Metrics& metrics() override { return *snap_.metrics; }
  ResponseCaches& caches() override { return *snap_.caches; }

  // The priciest model the route's factories have asked for so far (by input and output price).
  const ModelConfig* priciest() const { return priciest_; }

  std::vector<const Target*> targets_for(std::string_view model) override {
    std::vector<const Target*> out;
    const auto price = [](const ModelConfig& m) {
      return m.price_usd_per_mtok.input + m.price_usd_per_mtok.output;
    };
    for (std::uint32_t i = 0; i < snap_.upstreams.size(); ++i) {
      const auto& u = *snap_.upstreams[i]->config;
      for (const auto& m : u.models) {
        if (m.name != model) continue;
        if (!priciest_ || price(m) > price(*priciest_)) priciest_ = &m;
        auto t = std::make_unique<Target>();
        t->upstream = i;
        t->upstream_config = &u;
        t->model = &m;
        t->metrics = &snap_.metrics->model(route_, m.name, u.name, u.provider);
        t->state = &snap_.registry->target(u.name, m.name);
        out.push_back(t.get());
        snap_.targets.push_back(std::move(t));
      }
    }
    return out;
  }

 private:
  Snapshot& snap_;
  std::string route_;
  const ModelConfig* priciest_ = nullptr;
};

}  // namespace

namespace {

SnapshotBuild build(Config config, Metrics& metrics, std::shared_ptr<TargetRegistry> registry,
                    std::shared_ptr<ClientLedger> ledger, std::shared_ptr<Learning> learning,
                    std::shared_ptr<ResponseCaches> caches) {
  register_builtins();
  auto snap = std::make_shared<Snapshot>();
  snap->config = std::move(config);
  snap->metrics = &metrics;
  snap->registry = std::move(registry);
  snap->ledger = std::move(ledger);
  snap->learning = std::move(learning);
  snap->caches = std::move(caches);
  for (const auto& c : snap->config.clients.keys)
    snap->clients[c.key_sha256] = Client{&c, &snap->ledger->account(c.name)};
  snap->max_connections = snap->config.server.max_connections;
  if (snap->max_connections == 0) {
    // Each client connection may hold an upstream connection too; keep a reserve for pools,
    // the config file, logs and the listener.
    rlimit nofile{};
    ::getrlimit(RLIMIT_NOFILE, &nofile);
    const auto fds = std::min<rlim_t>(nofile.rlim_cur, 1u << 30);
    snap->max_connections = static_cast<std::uint32_t>(fds > 160 ? (fds - 128) / 2 : 16);
  }
  std::string error;

  for (std::size_t i = 0; i < snap->config.upstreams.size(); ++i) {
    const auto& u = snap->config.upstreams[i];
    const std::string path = "upstreams[" + std::to_string(i) + "]";
    auto rt = std::make_unique<UpstreamRuntime>();
    rt->config = &u;
    auto url = parse_url(u.base_url);
    if (!url) return {nullptr, path + ".base_url: not a valid http(s) URL: \"" + u.base_url + "\""};
    rt->url = std::move(*url);
    if (rt->url.tls && !(rt->tls = make_tls(u, error, path))) return {nullptr, error};
    if (!u.api_key.empty()) rt->authorization = "Bearer " + u.api_key;
    rt->errors = &metrics.upstream_errors(u.name);
    rt->pool_key = u.name + '\n' + u.base_url + '\n' + u.tls.ca_file + '\n' +
                   (u.tls.insecure_skip_verify ? "1" : "0") + '\n' + std::to_string(u.pool_size) +
                   '\n' + std::to_string(u.pool_idle_timeout_ms);
    snap->upstreams.push_back(std::move(rt));
  }

  // Passthrough: every model name, served by each upstream that lists it, in config order.
  SnapshotBuildContext passthrough(*snap, "passthrough");
  nlohmann::json data = nlohmann::json::array();
  for (const auto& u : snap->config.upstreams)
    for (const auto& m : u.models) {
      if (snap->models.count(m.name)) continue;
      snap->models[m.name] = passthrough.targets_for(m.name);
      data.push_back({{"id", m.name}, {"object", "model"}, {"created", 0}, {"owned_by", u.name}});
      snap->model_list += (snap->model_list.empty() ? "" : ", ") + m.name;
    }

  std::lock_guard lock(factories().mutex);
  for (const auto& rc : snap->config.routes) {
    CompiledRoute route;
    route.name = rc.name;
    route.cache_lookups = &metrics.cache_lookups(rc.name);
    SnapshotBuildContext ctx(*snap, rc.name);
    if (rc.stages.empty())
      return {nullptr, "routes." + rc.name + ".stages: needs at least one stage that selects models"};
    for (const auto& sc : rc.stages) {
      auto it = factories().stages.find(sc.type);
      if (it == factories().stages.end())
        return {nullptr, sc.path + ": unknown stage type \"" + sc.type + "\" (known: " +
                             known_names(factories().stages) + ")"};
      auto stage = it->second(sc, ctx);
      if (!stage) return {nullptr, stage.error().message};
      route.stages.push_back(std::move(*stage));
    }
    // The stages pick the candidates; a dispatcher may name others that never answer (a judge).
    route.strongest = ctx.priciest();
    auto it = factories().dispatchers.find(rc.dispatcher.type);
    if (it == factories().dispatchers.end())
      return {nullptr, rc.dispatcher.path + ": unknown dispatcher type \"" + rc.dispatcher.type +
                           "\" (known: " + known_names(factories().dispatchers) + ")"};
    auto dispatcher = it->second(rc.dispatcher, ctx);
    if (!dispatcher) return {nullptr, dispatcher.error().message};
    route.dispatcher = std::move(*dispatcher);
    route.savings = metrics.savings(rc.name);
    data.push_back({{"id", rc.name}, {"object", "model"}, {"created", 0}, {"owned_by", "switchyard"}});
    snap->model_list += (snap->model_list.empty() ? "" : ", ") + rc.name;
    snap->routes.emplace(rc.name, std::move(route));
  }
  for (const auto& rc : snap->config.routes) {
    if (!rc.split) continue;  // the loader checked that the arm is a route without a split
    CompiledRoute& route = snap->routes.at(rc.name);
    route.arm = &snap->routes.at(rc.split->arm);
    route.arm_share = rc.split->percent / 100;
    route.split_by_session = rc.split->by == "session";
  }
  {
    YAML::Node single;
    single["type"] = "single";
    StageConfig sc{"single", "(passthrough)", std::make_shared<const YAML::Node>(single)};
    auto dispatcher = factories().dispatchers.at("single")(sc, passthrough);
    if (!dispatcher) return {nullptr, dispatcher.error().message};
    snap->passthrough = std::move(*dispatcher);
  }
  // Names are valid UTF-8 (the loader checks); replace, not throw, all the same.
  constexpr auto replace = nlohmann::json::error_handler_t::replace;
  for (const auto& m : data) {
    snap->model_ids.push_back(m["id"].get<std::string>());
    snap->model_objects[snap->model_ids.back()] = m.dump(-1, ' ', false, replace);
  }
  snap->models_json =
      nlohmann::json{{"object", "list"}, {"data", std::move(data)}}.dump(-1, ' ', false, replace);
  auto log = snap->learning->decision_log(snap->config.decision_log);
  if (!log) return {nullptr, "decision_log.path: " + log.error().message};
  snap->decision_log = std::move(*log);
  snap->learning->configure(snap->config.feedback);
  return {std::move(snap), {}};
}

}  // namespace

SnapshotBuild build_snapshot(Config config, Metrics& metrics,
                             std::shared_ptr<TargetRegistry> registry,
                             std::shared_ptr<ClientLedger> ledger,
                             std::shared_ptr<Learning> learning,
                             std::shared_ptr<ResponseCaches> caches) {
  // Control plane: a factory or library that throws must cost a reload, not the process.
  try {
    if (!registry) registry = std::make_shared<TargetRegistry>();
    if (!ledger) ledger = std::make_shared<MemoryLedger>();
    if (!learning) learning = std::make_shared<Learning>();
    if (!caches) caches = std::make_shared<ResponseCaches>();
    return build(std::move(config), metrics, std::move(registry), std::move(ledger),
                 std::move(learning), std::move(caches));
  } catch (const std::exception& e) {
    return {nullptr, std::string("cannot build the configuration: ") + e.what()};
  }
}

}  // namespace switchyard

#include "server/admin.hpp"

#include "router/snapshot.hpp"
#include "server/auth.hpp"
#include "server/gateway.hpp"

#include <algorithm>

namespace switchyard {

bool is_admin_path(std::string_view path) {
  return path == "/healthz" || path == "/readyz" || path == "/metrics" || path == "/v1/models" ||
         path.starts_with("/v1/models/");
}

namespace {

// Whether a key may call `id`, a route or a model.
bool visible(const Snapshot& snap, const ClientConfig& c, const std::string& id) {
  const auto& allowed = snap.routes.count(id) ? c.routes : c.models;
  return allowed.empty() || std::find(allowed.begin(), allowed.end(), id) != allowed.end();
}

}  // namespace

Task<void> serve_admin(std::string_view path, ServerState& st, const Snapshot& snap,
                       SessionWriter& out, std::string_view authorization) {
  if (path == "/healthz") {
    (void)co_await out.send(200, "application/json", R"({"status":"ok"})");
  } else if (path == "/readyz") {
    if (st.draining.load(std::memory_order_relaxed))
      (void)co_await send_error(out, make_error(Reason::draining, "draining: shutting down"));
    else
      (void)co_await out.send(200, "application/json", R"({"status":"ready"})");
  } else if (path == "/metrics") {
    auto text = st.metrics.serialize();
    (void)co_await out.send(200, "text/plain; version=0.0.4; charset=utf-8", text);
  } else if (auto client = identify(snap, authorization); !client) {
    (void)co_await send_error(out, client.error());
  } else if (path == "/v1/models") {
    const ClientConfig* c = *client ? (*client)->config : nullptr;
    if (!c || (c->routes.empty() && c->models.empty())) {
      (void)co_await out.send(200, "application/json", snap.models_json);
    } else {
      std::string body = R"({"object":"list","data":[)";
      bool first = true;
      for (const auto& id : snap.model_ids) {
        if (!visible(snap, *c, id)) continue;
        body += (first ? "" : ",") + snap.model_objects.at(id);
        first = false;
      }
      (void)co_await out.send(200, "application/json", body + "]}");
    }
  } else {
    auto id = path.substr(11);
    auto it = snap.model_objects.find(std::string(id));
    const Client* c = *client;
    if (it != snap.model_objects.end() && (!c || visible(snap, *c->config, it->first))) {
      (void)co_await out.send(200, "application/json", it->second);
    } else {
      auto e = make_error(Reason::not_found, "The model '" + std::string(id) + "' does not exist.",
                          "model");
      (void)co_await send_error(out, e);
    }
  }
}

}  // namespace switchyard

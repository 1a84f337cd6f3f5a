#include "server/admin.hpp"

#include "router/snapshot.hpp"
#include "server/auth.hpp"
#include "server/gateway.hpp"

namespace switchyard {

bool is_admin_path(std::string_view path) {
  return path == "/healthz" || path == "/readyz" || path == "/metrics" || path == "/v1/models" ||
         path.starts_with("/v1/models/");
}

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
    (void)co_await out.send(200, "application/json", snap.models_json);
  } else {
    auto id = path.substr(11);
    auto it = snap.model_objects.find(std::string(id));
    if (it != snap.model_objects.end()) {
      (void)co_await out.send(200, "application/json", it->second);
    } else {
      auto e = make_error(Reason::not_found, "The model '" + std::string(id) + "' does not exist.",
                          "model");
      (void)co_await send_error(out, e);
    }
  }
}

}  // namespace switchyard

#include "router/resolve.hpp"

#include "router/snapshot.hpp"

namespace switchyard {

Result<const Dispatcher*> resolve(RouteContext& ctx) {
  const Snapshot& snap = ctx.snapshot;
  const std::string& model = ctx.request.model;
  if (auto r = snap.routes.find(model); r != snap.routes.end()) {
    ctx.route = r->second.name;
    for (const auto& stage : r->second.stages)
      if (auto res = stage->apply(ctx); !res) return res.error();
    return r->second.dispatcher.get();
  }
  if (auto m = snap.models.find(model); m != snap.models.end()) {
    ctx.route = "passthrough";
    ctx.candidates = m->second;
    return snap.passthrough.get();
  }
  return make_error(Reason::not_found,
                    "The model '" + model + "' does not exist. Available models and routes: " +
                        snap.model_list + ".",
                    "model");
}

}  // namespace switchyard

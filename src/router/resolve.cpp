#include "router/resolve.hpp"

#include "core/hash.hpp"
#include "router/snapshot.hpp"

#include <algorithm>

namespace switchyard {

namespace {

// Orders the candidates by their breakers, keeping each group's order, in place: first those
// half-open whose probe this request took (the probe must be made: a scorer may well have
// ranked a model that was just failing last), then the closed ones, then those not admitted
// (open, or half-open with its probe taken by another request). A lone candidate is left
// alone: it is tried whatever its state.
void order_by_breaker(RouteContext& ctx) {
  auto& c = ctx.candidates;
  if (c.size() < 2) return;
  const SteadyTime now = ctx.clock.now();
  std::size_t probes = 0, admitted = 0;
  auto move = [&](std::size_t from, std::size_t to) {
    std::rotate(c.begin() + static_cast<std::ptrdiff_t>(to),
                c.begin() + static_cast<std::ptrdiff_t>(from),
                c.begin() + static_cast<std::ptrdiff_t>(from) + 1);
  };
  for (std::size_t i = 0; i < c.size(); ++i) {
    const auto& config = c[i]->upstream_config->breaker;
    Breaker& breaker = c[i]->state->breaker;
    if (!config.enabled) {
      move(i, admitted++);
      continue;
    }
    const bool half_open = breaker.state(now) == Breaker::State::half_open;
    if (!breaker.admit(now, config)) {
      ctx.decision.demoted.push_back(c[i]);
      continue;
    }
    move(i, half_open ? probes++ : admitted);
    ++admitted;
  }
}

bool listed(const std::vector<std::string>* allowed, std::string_view name) {
  return !allowed || std::find(allowed->begin(), allowed->end(), name) != allowed->end();
}

// Keeps the candidates the caller may use, in order; a 403 if none is left.
Result<void> keep_allowed(RouteContext& ctx) {
  const Caller& caller = ctx.caller;
  if (!caller.models) return {};
  std::erase_if(ctx.candidates,
                [&](const Target* t) { return !listed(caller.models, t->model->name); });
  if (!ctx.candidates.empty()) return {};
  return make_error(Reason::forbidden,
                    "The key '" + std::string(caller.name) + "' may not use any model that '" +
                        ctx.request.model + "' would choose for this request.",
                    "model");
}

// The arm of an A/B split that serves this request: a stable hash of the caller's key name (or
// its session) and the route's name, so each caller stays in one arm and experiments on two
// routes are independent. A request with neither is placed by its request id.
const CompiledRoute& pick_arm(const RouteContext& ctx, const CompiledRoute& route) {
  std::string_view who = route.split_by_session ? std::string_view(ctx.request.session)
                                                : ctx.caller.name;
  if (who.empty()) who = ctx.request.request_id;
  std::uint64_t h = fnv1a({who, route.name}, '\n');
  // FNV's top bits barely change between "team-a" and "team-b": mix them (murmur3's fmix64).
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ull;
  h ^= h >> 33;
  const double u = static_cast<double>(h >> 11) * 0x1p-53;  // uniform in [0, 1)
  return u < route.arm_share ? *route.arm : route;
}

}  // namespace

Result<const Dispatcher*> resolve(RouteContext& ctx) {
  const Snapshot& snap = ctx.snapshot;
  const std::string& model = ctx.request.model;
  if (auto r = snap.routes.find(model); r != snap.routes.end()) {
    if (!listed(ctx.caller.routes, model))
      return make_error(Reason::forbidden,
                        "The key '" + std::string(ctx.caller.name) + "' may not use the route '" +
                            model + "'.",
                        "model");
    const CompiledRoute& route = r->second.arm ? pick_arm(ctx, r->second) : r->second;
    if (r->second.arm) ctx.experiment = r->second.name;
    ctx.route = route.name;
    ctx.compiled = &route;
    for (const auto& stage : route.stages) {
      if (auto res = stage->apply(ctx); !res) return res.error();
      if (ctx.cache.hit) return route.dispatcher.get();  // nothing left to decide
    }
    if (auto ok = keep_allowed(ctx); !ok) return ok.error();
    order_by_breaker(ctx);
    return route.dispatcher.get();
  }
  if (auto m = snap.models.find(model); m != snap.models.end()) {
    ctx.route = "passthrough";
    ctx.candidates = m->second;
    if (auto ok = keep_allowed(ctx); !ok) return ok.error();
    order_by_breaker(ctx);
    return snap.passthrough.get();
  }
  return make_error(Reason::not_found,
                    "The model '" + model + "' does not exist. Available models and routes: " +
                        snap.model_list + ".",
                    "model");
}

}  // namespace switchyard

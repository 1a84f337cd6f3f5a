// `sticky`: session stickiness and prompt-cache affinity. A conversation keeps the (upstream,
// model) that answered its last turn, for consistent answers across turns and so that the
// provider's prompt cache holds its prefix. A request's session is its x-session-id header,
// else its prompt_cache_key, else its user (ApiRequest::session), else, with `by_conversation`,
// a hash of its system text and first user message, which every turn of a chat repeats. Keys
// are per client key, so two callers never share one.
//
// The stage moves the pinned target to the front when it is still a candidate: put it after the
// stages that drop what breaks the request's limits (a scorer), and the pin gives way when the
// model would break them. A pinned target whose circuit breaker is open is moved back like any
// other (resolve.hpp), so an unhealthy model loses its sessions: the next answer pins another.
// A pin is set or refreshed whenever a request succeeds, lives `ttl_s` from then, and the
// least recently used go first past `max_sessions`. Pins live in this process and a config
// reload clears them.
//
//   stages:
//     - type: scorer
//       ...
//     - type: sticky
//       ttl_s: 3600             # optional, default 3600
//       max_sessions: 100000    # optional, default 100000
//       by_conversation: true   # optional, default true
#include "router/sticky/sticky_stage.hpp"

#include "api/prompt.hpp"
#include "config/yaml_map.hpp"
#include "core/sha256.hpp"
#include "router/lru.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace switchyard {

namespace {

// Longer session ids are hashed, so a client cannot fill the table with huge keys.
constexpr std::size_t kMaxSessionBytes = 128;

class StickyStage final : public RouterStage, public SuccessHook {
 public:
  StickyStage(std::size_t max_sessions, std::chrono::nanoseconds ttl, bool by_conversation)
      : by_conversation_(by_conversation),
        pins_(std::make_unique<ShardedLru<const TargetState*>>(max_sessions, ttl)) {}

  Result<void> apply(RouteContext& ctx) const override {
    const ApiRequest& req = ctx.request;
    std::string key(ctx.caller.name);
    key += '\n';
    if (!req.session.empty()) {
      key += req.session.size() <= kMaxSessionBytes ? req.session : to_hex(sha256(req.session));
    } else if (const std::uint64_t c = by_conversation_ ? conversation_of(req.prompt) : 0) {
      key += fmt::format("#{:016x}", c);
    } else {
      return {};
    }
    if (auto pinned = pins_->find(key, ctx.clock.now())) {
      auto& c = ctx.candidates;
      auto it = std::find_if(c.begin(), c.end(),
                             [&](const Target* t) { return t->state == *pinned; });
      if (it != c.end()) {
        std::rotate(c.begin(), it, it + 1);
        ctx.decision.sticky = true;
      }
    }
    ctx.session = std::move(key);
    ctx.on_success.push_back(this);
    return {};
  }

  // Pins the session to the target that answered.
  void succeeded(RouteContext& ctx) const override {
    if (ctx.chosen) pins_->put(std::move(ctx.session), ctx.chosen->state, 1, ctx.clock.now());
  }

 private:
  bool by_conversation_;
  std::unique_ptr<ShardedLru<const TargetState*>> pins_;  // the stage is const to requests
};

}  // namespace

Built<RouterStage> make_sticky_stage(const StageConfig& sc, BuildContext&) {
  std::uint32_t ttl_s = 3600, max_sessions = 100'000;
  bool by_conversation = true;
  std::string error;
  bool ok = read_guarded(error, [&] {
    Map m(*sc.node, sc.path);
    std::string type;
    m.req("type", type);
    m.opt("ttl_s", ttl_s);
    m.opt("max_sessions", max_sessions);
    m.opt("by_conversation", by_conversation);
    m.finish();
    if (ttl_s == 0) fail(m.at("ttl_s"), "must be greater than 0");
    if (max_sessions < 8) fail(m.at("max_sessions"), "must be at least 8");
  });
  if (!ok) return config_error(std::move(error));
  return std::make_unique<const StickyStage>(max_sessions, std::chrono::seconds(ttl_s),
                                             by_conversation);
}

}  // namespace switchyard

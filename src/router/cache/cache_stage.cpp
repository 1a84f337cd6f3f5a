// `cache`: the response cache. A request is looked up by its normalised form: the route, the
// caller's key name if that key may use only some models, the endpoint, and the body in
// canonical form (api/request.hpp: keys sorted, one spelling per value) without the members
// that do not change the answer (user, metadata, store, prompt_cache_key, safety_identifier).
// Only deterministic requests are cached: temperature 0, unless the route opts in with
// `any_temperature`; a body with an integer past 64 bits is never cached. A hit
// is served as the client first got it (a JSON body, or the same events replayed as SSE),
// costs nothing and calls no upstream; a miss is kept once it succeeded with a 200. Entries
// live `ttl_s` and are evicted least recently used first once the cache holds `max_bytes`.
// Each route's cache is the gateway's (router/cache/caches.hpp), so it survives a config reload;
// with `redis:` set, what one replica keeps reaches the others' caches within a sync or two.
//
//   stages:
//     - type: cache               # first, so that a hit skips the rest
//       ttl_s: 300                # optional, default 300
//       max_bytes: 67108864       # optional, default 64 MiB (keys and answers)
//       max_entry_bytes: 1048576  # optional, default 1 MiB: larger answers are not kept
//       any_temperature: false    # optional: also cache requests that are not deterministic
//     - type: static
//       models: [gpt-4o-mini]
#include "router/cache/cache_stage.hpp"

#include "api/request.hpp"
#include "config/yaml_map.hpp"
#include "router/cache/caches.hpp"

namespace switchyard {

void CacheSlot::capture_body(int status, std::string_view content_type, std::string_view body) {
  answer.status = status;
  answer.content_type = content_type;
  answer.bytes = body.size();
  if ((too_large = answer.bytes > max_bytes)) return;
  answer.body = body;
}

void CacheSlot::capture_event(std::string_view event) {
  if (too_large) return;
  answer.bytes += event.size();
  if ((too_large = answer.bytes > max_bytes)) {
    answer.events.clear();
    return;
  }
  answer.events.emplace_back(event);
}

namespace {

// Members that do not change what the model answers.
constexpr std::string_view kIgnored[] = {"user", "metadata", "store", "prompt_cache_key",
                                         "safety_identifier"};

class CacheStage final : public RouterStage, public SuccessHook {
 public:
  CacheStage(std::string route, ResponseCaches& caches, std::size_t max_bytes,
             std::size_t max_entry_bytes, std::chrono::nanoseconds ttl, bool any_temperature)
      : route_(std::move(route)),
        max_entry_bytes_(max_entry_bytes),
        ttl_(ttl),
        any_temperature_(any_temperature),
        caches_(caches),
        cache_(caches.of(route_, max_bytes, ttl)) {}

  Result<void> apply(RouteContext& ctx) const override {
    auto body = canonical_body(ctx.request.body, kIgnored, any_temperature_);
    if (!body || (!body->temperature_zero && !any_temperature_)) {
      ctx.cache.skipped = true;
      return {};
    }
    std::string key;
    key.reserve(route_.size() + ctx.caller.name.size() + body->text.size() + 8);
    key += route_;
    key += '\n';
    // A key limited to some models gets only answers given within its limits.
    if (ctx.caller.models) key.append(ctx.caller.name).append("\n");
    key += std::to_string(static_cast<int>(ctx.request.endpoint));
    key += '\n';
    key += body->text;
    if (auto hit = cache_->find(key, ctx.clock.now())) {
      ctx.cache.hit = std::move(*hit);
      return {};
    }
    ctx.cache.capture = true;
    ctx.cache.key = std::move(key);
    ctx.cache.max_bytes = max_entry_bytes_;
    ctx.on_success.push_back(this);
    return {};
  }

  // Keeps the answer a miss got, if it was a whole 200.
  void succeeded(RouteContext& ctx) const override {
    CacheSlot& c = ctx.cache;
    if (c.too_large || c.answer.status != 200 || !ctx.chosen) return;
    c.answer.model = ctx.chosen->model->name;
    const std::size_t bytes = c.key.size() + c.answer.bytes;
    auto answer = std::make_shared<const CachedAnswer>(std::move(c.answer));
    caches_.offer(route_, c.key, answer, ttl_);
    cache_->put(std::move(c.key), std::move(answer), bytes, ctx.clock.now());
  }

 private:
  std::string route_;
  std::size_t max_entry_bytes_;
  std::chrono::nanoseconds ttl_;
  bool any_temperature_;
  ResponseCaches& caches_;  // the gateway's; outlives the snapshot
  std::shared_ptr<ResponseCache> cache_;  // the stage is const to requests; its cache is not
};

}  // namespace

Built<RouterStage> make_cache_stage(const StageConfig& sc, BuildContext& ctx) {
  std::uint64_t max_bytes = 64ull << 20, max_entry_bytes = 1ull << 20;
  std::uint32_t ttl_s = 300;
  bool any_temperature = false;
  std::string error;
  bool ok = read_guarded(error, [&] {
    Map m(*sc.node, sc.path);
    std::string type;
    m.req("type", type);
    m.opt("ttl_s", ttl_s);
    m.opt("max_bytes", max_bytes);
    m.opt("max_entry_bytes", max_entry_bytes);
    m.opt("any_temperature", any_temperature);
    m.finish();
    if (ttl_s == 0) fail(m.at("ttl_s"), "must be greater than 0");
    if (max_entry_bytes == 0 || max_entry_bytes > max_bytes)
      fail(m.at("max_entry_bytes"), "must be greater than 0 and at most max_bytes");
  });
  if (!ok) return config_error(std::move(error));
  return std::make_unique<const CacheStage>(std::string(ctx.route()), ctx.caches(), max_bytes,
                                            max_entry_bytes, std::chrono::seconds(ttl_s),
                                            any_temperature);
}

}  // namespace switchyard

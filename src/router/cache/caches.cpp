#include "router/cache/caches.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <new>

namespace switchyard {

ResponseCaches::~ResponseCaches() {
  for (Node* n = outbox_.load(std::memory_order_acquire); n;) delete std::exchange(n, n->next);
}

std::shared_ptr<ResponseCache> ResponseCaches::of(const std::string& route, std::size_t max_bytes,
                                                  std::chrono::nanoseconds ttl) {
  std::lock_guard lock(mutex_);
  auto& cache = caches_[route];
  if (cache)
    cache->set_limits(max_bytes, ttl);
  else
    cache = std::make_shared<ResponseCache>(max_bytes, ttl);
  return cache;
}

void ResponseCaches::offer(std::string_view route, std::string_view key,
                           std::shared_ptr<const CachedAnswer> answer,
                           std::chrono::nanoseconds ttl) noexcept {
  if (!sharing_.load(std::memory_order_relaxed)) return;
  const std::size_t bytes = key.size() + answer->bytes;
  const auto drop = [&] {
    waiting_.fetch_sub(1, std::memory_order_relaxed);
    waiting_bytes_.fetch_sub(bytes, std::memory_order_relaxed);
  };
  // Both counted before either is tested, so that drop() always undoes both.
  const std::size_t count = waiting_.fetch_add(1, std::memory_order_relaxed) + 1;
  if (waiting_bytes_.fetch_add(bytes, std::memory_order_relaxed) + bytes > kMaxOutboxBytes ||
      count > kMaxOutbox) {
    drop();
    return;
  }
  Node* node = nullptr;
  try {
    node = new Node{{std::string(route), std::string(key), std::move(answer), ttl}};
  } catch (const std::bad_alloc&) {  // no memory to share it: the others miss it, no more
    drop();
    return;
  }
  node->next = outbox_.load(std::memory_order_relaxed);
  while (!outbox_.compare_exchange_weak(node->next, node, std::memory_order_release,
                                        std::memory_order_relaxed)) {
  }
}

std::vector<SharedAnswer> ResponseCaches::take() {
  // Taking the whole list at once: no node is ever popped alone, so no ABA.
  Node* n = outbox_.exchange(nullptr, std::memory_order_acquire);
  std::vector<SharedAnswer> out;
  std::size_t bytes = 0;
  for (; n; delete std::exchange(n, n->next)) {
    bytes += n->value.key.size() + n->value.answer->bytes;
    out.push_back(std::move(n->value));
  }
  waiting_.fetch_sub(out.size(), std::memory_order_relaxed);
  waiting_bytes_.fetch_sub(bytes, std::memory_order_relaxed);
  std::reverse(out.begin(), out.end());
  return out;
}

void ResponseCaches::adopt(std::string_view route, std::string key,
                           std::shared_ptr<const CachedAnswer> answer, SteadyTime expires,
                           SteadyTime now) {
  std::shared_ptr<ResponseCache> cache;
  {
    std::lock_guard lock(mutex_);
    auto it = caches_.find(route);
    if (it == caches_.end()) return;
    cache = it->second;
  }
  const std::size_t cost = key.size() + answer->bytes;
  cache->put_until(std::move(key), std::move(answer), cost, std::min(expires, now + cache->ttl()));
}

namespace {
using json = nlohmann::json;
}  // namespace

std::string encode(const CachedAnswer& a) {
  json j{{"status", a.status}, {"content_type", a.content_type}, {"model", a.model}};
  if (a.events.empty())
    j["body"] = a.body;
  else
    j["events"] = a.events;
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::optional<CachedAnswer> decode(std::string_view text) {
  const json j = json::parse(text, nullptr, false);
  if (!j.is_object()) return std::nullopt;
  const auto string_at = [&](const char* name) -> const std::string* {
    auto it = j.find(name);
    return it != j.end() && it->is_string() ? it->get_ptr<const std::string*>() : nullptr;
  };
  const auto status = j.find("status");
  const auto* type = string_at("content_type");
  const auto* model = string_at("model");
  // Another writer's value (a shared Redis) may hold anything: a status no response can have
  // is no cached answer.
  if (status == j.end() || !status->is_number_integer() || status->get<std::int64_t>() < 100 ||
      status->get<std::int64_t>() > 599 || !type || !model)
    return std::nullopt;
  CachedAnswer a;
  a.status = status->get<int>();
  a.content_type = *type;
  a.model = *model;
  if (const auto* body = string_at("body")) {
    a.body = *body;
    a.bytes = a.body.size();
    return a;
  }
  const auto events = j.find("events");
  if (events == j.end() || !events->is_array() || events->empty()) return std::nullopt;
  for (const auto& e : *events) {
    if (!e.is_string()) return std::nullopt;
    a.events.push_back(e.get<std::string>());
    a.bytes += a.events.back().size();
  }
  return a;
}

}  // namespace switchyard

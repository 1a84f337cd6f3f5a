// A bounded map from string keys to values that expire, shared by every worker: the response
// cache's answers, the session stickiness table's pins.
#pragma once

#include "switchyard/clock.hpp"

#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <iterator>
#include <list>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace switchyard {

// Least recently used entries go first once the entries' costs (bytes, or 1 each) pass
// `max_cost`; each entry lives `ttl` from when it was put. Split in shards, each with its own
// lock held only for a lookup or an insert, so workers rarely wait on each other (a lock-free
// LRU would need a concurrent map and list of our own: not worth it for a map lookup). Values
// are copied out, so make them cheap to copy (a pointer, a shared_ptr).
template <class Value>
class ShardedLru {
 public:
  ShardedLru(std::size_t max_cost, std::chrono::nanoseconds ttl) { set_limits(max_cost, ttl); }

  // New limits, for entries put from now on (a smaller max_cost trims a shard at its next put).
  void set_limits(std::size_t max_cost, std::chrono::nanoseconds ttl) {
    shard_cost_.store(max_cost / kShards, std::memory_order_relaxed);
    ttl_.store(ttl.count(), std::memory_order_relaxed);
  }

  std::chrono::nanoseconds ttl() const {
    return std::chrono::nanoseconds(ttl_.load(std::memory_order_relaxed));
  }

  std::optional<Value> find(const std::string& key, SteadyTime now) {
    Shard& s = shard(key);
    std::lock_guard lock(s.mutex);
    auto it = s.index.find(key);
    if (it == s.index.end()) return std::nullopt;
    auto entry = it->second;
    if (entry->expires <= now) {
      s.erase(entry);
      return std::nullopt;
    }
    s.lru.splice(s.lru.begin(), s.lru, entry);
    return entry->value;
  }

  // Removes and returns the live entry for `key`, if any.
  std::optional<Value> take(const std::string& key, SteadyTime now) {
    Shard& s = shard(key);
    std::lock_guard lock(s.mutex);
    auto it = s.index.find(key);
    if (it == s.index.end()) return std::nullopt;
    auto entry = it->second;
    std::optional<Value> out;
    if (entry->expires > now) out = std::move(entry->value);
    s.erase(entry);
    return out;
  }

  // Puts `value` for `key` (replacing any), unless `cost` alone is more than a shard holds.
  void put(std::string key, Value value, std::size_t cost, SteadyTime now) {
    const auto ttl = std::chrono::nanoseconds(ttl_.load(std::memory_order_relaxed));
    put_until(std::move(key), std::move(value), cost, now + ttl);
  }

  // The same, to expire at `expires` rather than a ttl from now.
  void put_until(std::string key, Value value, std::size_t cost, SteadyTime expires) {
    const std::size_t limit = shard_cost_.load(std::memory_order_relaxed);
    if (cost > limit) return;
    Shard& s = shard(key);
    std::lock_guard lock(s.mutex);
    if (auto it = s.index.find(key); it != s.index.end()) s.erase(it->second);
    s.lru.push_front(Entry{std::move(key), std::move(value), expires, cost});
    s.index.emplace(s.lru.front().key, s.lru.begin());
    s.cost += cost;
    while (s.cost > limit) s.erase(std::prev(s.lru.end()));
  }

 private:
  static constexpr std::size_t kShards = 8;
  struct Entry {
    std::string key;
    Value value;
    SteadyTime expires{};
    std::size_t cost = 0;
  };
  struct Shard {
    std::mutex mutex;
    std::list<Entry> lru;  // most recently used first
    std::unordered_map<std::string_view, typename std::list<Entry>::iterator> index;  // into lru
    std::size_t cost = 0;

    void erase(typename std::list<Entry>::iterator e) {
      cost -= e->cost;
      index.erase(e->key);
      lru.erase(e);
    }
  };

  Shard& shard(const std::string& key) {
    return shards_[std::hash<std::string>{}(key) % kShards];
  }

  std::atomic<std::size_t> shard_cost_{0};
  std::atomic<std::chrono::nanoseconds::rep> ttl_{0};
  Shard shards_[kShards];
};

}  // namespace switchyard

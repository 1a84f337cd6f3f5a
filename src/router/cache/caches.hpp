// The gateway's response caches, one per route, and what they share with other replicas.
#pragma once

#include "router/lru.hpp"
#include "switchyard/router.hpp"

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace switchyard {

using ResponseCache = ShardedLru<std::shared_ptr<const CachedAnswer>>;

// An answer one replica kept, on its way to the others.
struct SharedAnswer {
  std::string route;
  std::string key;
  std::shared_ptr<const CachedAnswer> answer;
  std::chrono::nanoseconds ttl{0};
};

// Owned by the gateway and kept across config reloads, like the ledger: a reload keeps each
// route's cached answers (the key holds the route and the request; a cache stage's new limits
// apply from then on). When the gateway shares state through Redis, share() turns on the
// outbox: every answer a stage keeps is also offered, and the exchange thread takes the offers
// and publishes them, and adopts what other replicas published into the same route's cache.
// Workers only offer, which is lock-free and never waits (at most kMaxOutbox offers and
// kMaxOutboxBytes of keys and answers wait; more are dropped, which costs a remote hit, never
// an answer).
class ResponseCaches {
 public:
  static constexpr std::size_t kMaxOutbox = 4096;
  static constexpr std::size_t kMaxOutboxBytes = 64 << 20;

  ResponseCaches() = default;
  ~ResponseCaches();
  ResponseCaches(const ResponseCaches&) = delete;
  ResponseCaches& operator=(const ResponseCaches&) = delete;

  // The cache of `route`, made on first use, with these limits from now on. Control thread.
  std::shared_ptr<ResponseCache> of(const std::string& route, std::size_t max_bytes,
                                    std::chrono::nanoseconds ttl);

  // A worker kept `answer` for `key` of `route`, for `ttl`: offers it to the other replicas, if
  // sharing is on (else it costs a load).
  void offer(std::string_view route, std::string_view key,
             std::shared_ptr<const CachedAnswer> answer, std::chrono::nanoseconds ttl) noexcept;

  // The exchange thread's side. share() turns the outbox on; take() empties it, oldest first;
  // adopt() puts another replica's answer into its route's cache until `expires` (this
  // process's steady clock; at most the route's TTL after `now`), if this replica has that
  // route's cache.
  void share() noexcept { sharing_.store(true, std::memory_order_relaxed); }
  std::vector<SharedAnswer> take();
  void adopt(std::string_view route, std::string key, std::shared_ptr<const CachedAnswer> answer,
             SteadyTime expires, SteadyTime now);

 private:
  struct Node {
    SharedAnswer value;
    Node* next = nullptr;
  };

  std::mutex mutex_;  // control plane and the exchange thread: caches_
  std::map<std::string, std::shared_ptr<ResponseCache>, std::less<>> caches_;
  std::atomic<bool> sharing_{false};
  std::atomic<Node*> outbox_{nullptr};  // newest first
  std::atomic<std::size_t> waiting_{0};
  std::atomic<std::size_t> waiting_bytes_{0};
};

// A cached answer as text and back, to travel between replicas. decode() is nullopt for text
// that encode() did not make.
std::string encode(const CachedAnswer& answer);
std::optional<CachedAnswer> decode(std::string_view text);

}  // namespace switchyard

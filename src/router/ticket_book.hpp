// The answers that may still get feedback (POST /v1/feedback), by request id. Every answered
// request opens one, so this sits on the data path: see TicketBook.
#pragma once

#include "switchyard/clock.hpp"
#include "switchyard/config.hpp"

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace switchyard {

struct TargetState;

// A request that may still get feedback: who asked and what answered.
struct FeedbackTicket {
  const TargetState* target = nullptr;  // what answered; lives as long as the gateway's registry
  std::string client;  // the key's name; empty without keys
  std::string route;
  std::string label;   // the deciding label (a classifier's first), empty if none
};

// The tickets of the last `capacity` answers or so, each open for `window` after it was put and
// until taken. Split by the id's hash in 8 shards, each a ring of capacity/8 slots (the next put
// overwrites the oldest, open or not) with an open-addressed index into it, under its own lock
// held for one put or take. A put in steady state allocates nothing (a slot's strings keep their
// capacity: at most a request id's 128 bytes and a configured name each) and touches a few cache
// lines (the slot, the replaced id, two runs of the index), where a map with an LRU list
// allocated three nodes and walked a dozen cold pointers. The index hash is seeded per book; ids
// chosen to collide whatever the seed (hash_words is not a keyed hash) are met by a bound: no
// entry lies more than kMaxProbe places past its home, and a ticket that would is not kept, so
// a put or take looks at no more than a few times that many entries. Thread-safe; holds
// nothing of its callers.
class TicketBook {
 public:
  TicketBook();  // seeded from std::random_device
  explicit TicketBook(std::uint64_t seed);

  // New limits: the window for tickets put from now on, and a new capacity (at most
  // kMaxPendingFeedback), which keeps the newest open tickets that fit. Throws std::bad_alloc,
  // changing nothing in the shard it was resizing (those before it stay resized).
  void configure(std::size_t capacity, std::chrono::nanoseconds window);

  // Opens `id` (replacing a ticket open under the same id).
  void put(std::string_view id, const TargetState* target, std::string_view client,
           std::string_view route, std::string_view label, SteadyTime now);

  // Closes `id` and returns its ticket if it is open and was put for `client`; else changes
  // nothing and returns nullopt. Of two callers at once, one gets it.
  std::optional<FeedbackTicket> take(std::string_view id, std::string_view client,
                                     SteadyTime now);

 private:
  static constexpr std::size_t kShards = 8, kMaxProbe = 64;
  struct Slot {
    std::uint64_t hash = 0;
    SteadyTime expires{};
    bool open = false;
    std::string id;
    FeedbackTicket ticket;
  };
  struct alignas(64) Shard {
    std::mutex mutex;
    std::size_t capacity = 0;
    std::vector<Slot> ring;  // grows to capacity, then each put overwrites ring[next]
    std::size_t next = 0;    // the oldest once the ring is full
    // Linear probing: 0 empty, else (hash's low 32 bits << 32) | (slot + 1).
    std::vector<std::uint64_t> index;

    std::size_t find(std::uint64_t hash, std::string_view id) const;  // index position or npos
    void unindex(std::size_t position);
  };
  // Indexes `slot` under `hash`; false (the index unchanged) if no entry within kMaxProbe of its
  // home is free.
  static bool place(std::vector<std::uint64_t>& index, std::uint64_t hash, std::size_t slot);

  std::uint64_t hash(std::string_view id) const;

  std::uint64_t seed_;
  std::atomic<std::chrono::nanoseconds::rep> window_{0};
  Shard shards_[kShards];
};

}  // namespace switchyard

// The answers that may still get feedback (POST /v1/feedback), by request id. Every answered
// request opens one, so this sits on the data path: see TicketBook.
#pragma once

#include "switchyard/clock.hpp"

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
  std::string client;                   // the key's name; empty without keys
  std::string route;
  std::string label;  // the deciding label (a classifier's first), empty if none
};

// Up to `capacity` tickets, each open for `window` after it was put; past the capacity the
// oldest goes first. Split in shards, each a ring of slots (the oldest is the next overwritten)
// with an open-addressed index into it, under its own lock held for one put or take. A put in
// steady state allocates nothing (each slot's strings keep their capacity, at most a request
// id's 128 bytes and a configured name each) and touches three cache lines: its slot, and the
// index entries of the ticket it replaces and of its own; a map with an LRU list cost a dozen
// cold lines and three allocations. The index is keyed by a hash seeded per process, so that
// chosen request ids cannot pile up in one place. Thread-safe; holds nothing of its callers.
class TicketBook {
 public:
  TicketBook();

  // New limits: the window for tickets put from now on; a new capacity drops every open ticket.
  void configure(std::size_t capacity, std::chrono::nanoseconds window);

  // Opens `id` (replacing a ticket open under the same id).
  void put(std::string_view id, const TargetState* target, std::string_view client,
           std::string_view route, std::string_view label, SteadyTime now);

  // Closes `id` and returns its ticket if it is open and was put for `client`; else changes
  // nothing and returns nullopt. Of two callers at once, one gets it.
  std::optional<FeedbackTicket> take(std::string_view id, std::string_view client, SteadyTime now);

 private:
  static constexpr std::size_t kShards = 8;
  struct Slot {
    std::uint64_t hash = 0;
    SteadyTime expires{};
    bool open = false;
    std::string id;
    FeedbackTicket ticket;
  };
  struct Shard {
    std::mutex mutex;
    std::vector<Slot> ring;
    std::size_t next = 0;  // the slot the next put overwrites: the oldest
    // Linear probing: 0 empty, else (hash's low 32 bits << 32) | (slot + 1).
    std::vector<std::uint64_t> index;

    std::size_t find(std::uint64_t hash, std::string_view id) const;  // index position or npos
    void unindex(std::size_t position);
  };

  std::uint64_t hash(std::string_view id) const;

  std::uint64_t seed_;
  std::atomic<SteadyTime::rep> window_{0};
  Shard shards_[kShards];
};

}  // namespace switchyard

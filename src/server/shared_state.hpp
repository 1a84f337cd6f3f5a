// State shared by every replica through Redis (`redis:`): each client key's requests and tokens
// per minute, and its spend per UTC day and month, so that replicas enforce one limit and one
// budget together. A background thread exchanges counts every redis.sync_ms; workers never wait
// for Redis.
#pragma once

#include "router/clients.hpp"
#include "switchyard/config.hpp"

#include <memory>
#include <thread>

namespace switchyard {

class Metrics;

// Owns the exchange thread; borrows `ledger` and `metrics`, which must outlive it. Each pass
// writes this replica's own use, under its own field, into per-key Redis hashes (one per minute
// for rates, per UTC day and month for spend, each expiring) and reads every other replica's
// fields back into the ledger's OthersUse, where admit() adds them to its own counts. Writing
// totals rather than increments makes a pass safe to repeat: a lost reply or a failed pass
// never counts anything twice, and a Redis that lost its data is filled again by the next pass.
// When a pass fails (Redis slow or gone) the others' share drops to zero, so each replica serves
// from its own counts, and switchyard_shared_store_up turns 0 with a log line. Destruction runs
// a last pass, then stops the thread.
class SharedState {
 public:
  SharedState(const RedisConfig& config, MemoryLedger& ledger, Metrics& metrics);
  ~SharedState();
  SharedState(const SharedState&) = delete;
  SharedState& operator=(const SharedState&) = delete;

 private:
  struct Exchange;
  std::unique_ptr<Exchange> exchange_;
  std::jthread thread_;  // last: stops first
};

}  // namespace switchyard

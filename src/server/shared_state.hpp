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
// adds this replica's use since the last successful pass to per-key counters in Redis (minute
// buckets for rates, day and month keys for spend, each expiring) and reads back the totals, of
// which the other replicas' share goes into the ledger's OthersUse, where admit() adds it to its
// own counts. When a pass fails (Redis slow or gone) the others' share drops to zero, so each
// replica serves from its own counts, and switchyard_shared_store_up turns 0 with a log line;
// nothing is lost: the next successful pass sends everything since the last one. Destruction
// stops the thread within one pass.
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

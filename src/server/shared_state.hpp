// State shared by every replica through Redis (`redis:`): each client key's requests and tokens
// per minute and its spend per UTC day and month, so that replicas enforce one limit and one
// budget together; which circuit breakers are open; and the response caches' answers. A
// background thread exchanges them every redis.sync_ms; workers never wait for Redis.
#pragma once

#include "router/clients.hpp"
#include "switchyard/config.hpp"

#include <memory>
#include <thread>

namespace switchyard {

class Metrics;
class ResponseCaches;
class TargetRegistry;

// Owns the exchange thread; borrows `ledger`, `targets`, `caches` and `metrics`, which must
// outlive it. Each pass is one pipelined round trip:
// - Limits and budgets: it writes this replica's own use, under its own field, into per-key
//   hashes (one per minute for rates, per UTC day and month for spend, each expiring) and reads
//   every other replica's fields back into the ledger's OthersUse, where admit() adds them to
//   its own counts. Writing totals rather than increments makes a pass safe to repeat: a lost
//   reply never counts anything twice, and a Redis that lost its data is filled again.
// - Breakers: each opening this replica made is told as a wall-clock end time in one hash; the
//   others' openings are adopted (Breaker::adopt), so that traffic leaves a failing model on
//   every replica once one has seen it fail. Each then probes it for itself, a little later
//   than the one that opened it, so that a failed first probe spares the others theirs.
// - Cache: the answers this replica's caches kept go to one Redis stream, trimmed to the longest
//   TTL; the entries the others added are put into this replica's caches until they expire.
//   Every replica keeps every answer in memory, so a hit never waits for Redis; a new replica
//   starts with what the stream holds.
// When a pass fails (Redis slow or gone) the others' share of the limits drops to zero, so each
// replica serves from its own state, and switchyard_shared_store_up turns 0 with a log line.
// Destruction runs a last pass, then stops the thread.
class SharedState {
 public:
  SharedState(const RedisConfig& config, MemoryLedger& ledger, TargetRegistry& targets,
              ResponseCaches& caches, Metrics& metrics);
  ~SharedState();
  SharedState(const SharedState&) = delete;
  SharedState& operator=(const SharedState&) = delete;

 private:
  struct Exchange;
  std::unique_ptr<Exchange> exchange_;
  std::jthread thread_;  // last: stops first
};

}  // namespace switchyard

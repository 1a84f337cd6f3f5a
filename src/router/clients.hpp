// Client keys at run time: who is calling (their key's SHA-256, looked up in the snapshot), what
// they may use, and the live counters behind their rate limits and budgets.
#pragma once

#include "switchyard/clock.hpp"
#include "switchyard/config.hpp"
#include "switchyard/error.hpp"

#include <prometheus/collectable.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

namespace switchyard {

using WallTime = std::chrono::system_clock::time_point;

// When something happens, on both clocks: rates run on the steady one, budgets on UTC days and
// months.
struct Instant {
  SteadyTime steady;
  WallTime wall;
};

struct Spend {
  double day_usd = 0;
  double month_usd = 0;
};

// The live usage of one client. admit() and charge() are called by every worker at once; the
// in-memory account (MemoryLedger) is lock-free, and one backed by a shared store (Redis, for
// several replicas) must not block either: it counts locally and syncs from its own thread. A
// request that is cancelled after admit() is still charged for what its calls cost.
class ClientAccount {
 public:
  virtual ~ClientAccount() = default;
  // Admits one request estimated at `tokens` under `limits` (its per-minute rates and its
  // budgets), or refuses it with a 429 whose retry_after_ms says when it would be admitted.
  virtual Result<void> admit(const ClientConfig& limits, Instant now, std::uint64_t tokens) = 0;
  // Charges a finished request what it really cost (`usd`, every call it made) and the tokens it
  // really used, of which admit() already counted `estimated` under the same `limits`.
  virtual void charge(const ClientConfig& limits, Instant now, double usd, std::uint64_t tokens,
                      std::uint64_t estimated) noexcept = 0;
  // USD spent in the UTC day and calendar month of `now`.
  virtual Spend spent(WallTime now) const noexcept = 0;
};

// Every client's account, by name, owned by the gateway and shared by every snapshot built on it
// so that a reload keeps what each client has used. Accounts are created on the control thread
// while a snapshot is built and never removed; references stay valid as long as the ledger.
class ClientLedger {
 public:
  virtual ~ClientLedger() = default;
  virtual ClientAccount& account(const std::string& name) = 0;
};

// Up to `limit` units a minute, with a burst of one minute's worth (the generic cell rate
// algorithm: one atomic word, the time at which the bucket would be empty).
class RateLimit {
 public:
  // Takes `units` (at most `limit`; more counts as `limit`) if they fit beside `others` units
  // that other replicas used in the last minute; otherwise takes nothing and returns how long
  // until they would.
  std::chrono::nanoseconds take(std::uint64_t limit, std::uint64_t units, SteadyTime now,
                                std::uint64_t others = 0) noexcept;
  // Counts `units` more (or, negative, fewer) than were taken, up to 30 days' worth.
  void adjust(std::uint64_t limit, std::int64_t units) noexcept;

 private:
  std::atomic<std::int64_t> full_until_{0};  // steady ns
};

// Money spent in the current calendar period (a UTC day, a month), lock-free: the period's
// number and the amount in units of 1e-8 USD packed in one word, so that a new period starts
// from zero without a lock.
class PeriodSpend {
 public:
  void add(std::uint32_t period, double usd) noexcept;
  double spent(std::uint32_t period) const noexcept;

 private:
  std::atomic<std::uint64_t> word_{0};
};

// One account's own use so far, for a shared store to add up across replicas: totals since the
// process started (tokens net of corrections), and spend in the UTC day and month numbered.
struct OwnUse {
  std::uint64_t requests = 0;
  std::int64_t tokens = 0;
  std::uint32_t day = 0;
  std::uint32_t month = 0;
  double day_usd = 0;
  double month_usd = 0;
};

// What the other replicas used, as the shared store last told: in the last minute, and in the
// UTC day and month numbered. All zero without a store, or while it is unreachable.
struct OthersUse {
  std::atomic<std::uint64_t> requests{0};
  std::atomic<std::uint64_t> tokens{0};
  std::atomic<std::uint32_t> day{0};
  std::atomic<std::uint32_t> month{0};
  std::atomic<double> day_usd{0};
  std::atomic<double> month_usd{0};
};

// The process's own accounts. As a Prometheus Collectable (Metrics::add_source) it exposes each
// client's admitted and refused requests and its spend in the current day and month.
class MemoryLedger final : public ClientLedger, public prometheus::Collectable {
 public:
  MemoryLedger();
  ~MemoryLedger() override;
  ClientAccount& account(const std::string& name) override;
  std::vector<prometheus::MetricFamily> Collect() const override;

  // Calls `visit` with every account's name, its own use at `now` and where to put what the
  // other replicas used (read by admit() on every worker from then on). For the thread that
  // exchanges counts with a shared store (server/shared_state.hpp); takes the ledger's lock.
  void visit_accounts(WallTime now,
                      const std::function<void(const std::string&, const OwnUse&, OthersUse&)>&
                          visit);

  class Account;

 private:
  mutable std::mutex mutex_;  // control plane: account(), Collect()
  std::map<std::string, std::unique_ptr<Account>> accounts_;
};

// A client as a snapshot knows it: its config and its account, both outliving the snapshot's
// requests.
struct Client {
  const ClientConfig* config = nullptr;
  ClientAccount* account = nullptr;
};

}  // namespace switchyard

// Rate limiting for log lines that an outsider can trigger at will (a client sending garbage, a
// full descriptor table in a hot accept loop), so that they cannot flood the log.
#pragma once

#include "core/clock.hpp"

#include <atomic>
#include <cstdint>
#include <optional>

namespace switchyard {

// Lets one line through per interval and counts the ones it holds back. Lock-free; shared by
// every worker.
class LogLimiter {
 public:
  explicit LogLimiter(std::chrono::milliseconds interval) : interval_(interval) {}

  // nullopt: drop this line. Otherwise log it, with the number of lines dropped since the last.
  std::optional<std::uint64_t> allow() noexcept {
    const auto now = steady_now().time_since_epoch();
    auto next = next_.load(std::memory_order_relaxed);
    if (now.count() < next ||
        !next_.compare_exchange_strong(next, (now + interval_).count(),
                                       std::memory_order_relaxed)) {
      suppressed_.fetch_add(1, std::memory_order_relaxed);
      return std::nullopt;
    }
    return suppressed_.exchange(0, std::memory_order_relaxed);
  }

 private:
  std::chrono::nanoseconds interval_;
  std::atomic<std::chrono::nanoseconds::rep> next_{0};
  std::atomic<std::uint64_t> suppressed_{0};
};

}  // namespace switchyard

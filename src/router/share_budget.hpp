// A cap on the share of recent requests that may take some option: a bandit's explorations, a
// dispatcher's retries. Lock-free; shared by every worker through the stage that owns it.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>

namespace switchyard {

// Counts requests (count()) and the ones that took the option (take()), over roughly the last
// kWindow requests: both counts halve when the requests reach it. take() succeeds while the
// takers stay within `share` of the requests, or (when share > 0) are fewer than kFloor, so that
// the first requests of a quiet route are not refused by a share of nothing. Races may lose a
// count, which a share over thousands does not mind.
class ShareBudget {
 public:
  static constexpr std::uint64_t kWindow = 4096;
  static constexpr double kFloor = 3;

  void count() noexcept {
    const std::uint64_t n = requests_.fetch_add(1, std::memory_order_relaxed) + 1;
    if (n < kWindow) return;
    requests_.store(n / 2, std::memory_order_relaxed);
    taken_.store(taken_.load(std::memory_order_relaxed) / 2, std::memory_order_relaxed);
  }

  // Whether one more request may take the option; if so it is counted as taken.
  bool take(double share) noexcept {
    if (share <= 0) return false;
    const auto n = static_cast<double>(requests_.load(std::memory_order_relaxed));
    const auto taken = static_cast<double>(taken_.load(std::memory_order_relaxed));
    if (taken + 1 > std::max(share * n, kFloor)) return false;
    taken_.fetch_add(1, std::memory_order_relaxed);
    return true;
  }

 private:
  std::atomic<std::uint64_t> requests_{0}, taken_{0};
};

}  // namespace switchyard

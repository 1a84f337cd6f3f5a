// Time as routing strategies see it: one injectable clock for stage decisions, live statistics
// and hedge or race timers, so that a test drives time by hand instead of depending on the
// machine's speed.
#pragma once

#include "switchyard/upstream.hpp"

#include <chrono>

namespace switchyard {

using SteadyClock = std::chrono::steady_clock;
using SteadyTime = SteadyClock::time_point;

// A monotonic clock with timers. The system clock is shared by every worker and thread-safe; a
// test clock (tests/support/manual_clock.hpp) is driven by its test's single thread.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual SteadyTime now() const noexcept = 0;
  // Completes once now() >= deadline, on the caller's executor. Cancellation (a race that was
  // decided, a client that hung up) completes it early with Reason::cancelled.
  virtual Task<Result<void>> sleep_until(SteadyTime deadline) = 0;
};

// The process's steady clock, with Asio timers. Lives for the whole process.
Clock& system_clock();

}  // namespace switchyard

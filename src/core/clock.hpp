// The only place that reads the clock, so tests and benchmarks have one seam to control time.
#pragma once

#include <chrono>

namespace switchyard {

using SteadyClock = std::chrono::steady_clock;
using SteadyTime = SteadyClock::time_point;

SteadyTime steady_now() noexcept;

// Seconds since the Unix epoch, for OpenAI `created` fields and logs.
long long unix_seconds() noexcept;

inline double seconds(std::chrono::nanoseconds d) noexcept {
  return std::chrono::duration<double>(d).count();
}

}  // namespace switchyard

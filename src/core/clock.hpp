// Reading the clock. steady_now() is the system clock's time, for the gateway's own timing (the
// access log, timeouts); routing strategies read time through an injected Clock
// (switchyard/clock.hpp) instead, so tests can drive it.
#pragma once

#include "switchyard/clock.hpp"

#include <chrono>

namespace switchyard {

SteadyTime steady_now() noexcept;

// Seconds since the Unix epoch, for OpenAI `created` fields and logs.
long long unix_seconds() noexcept;

inline double seconds(std::chrono::nanoseconds d) noexcept {
  return std::chrono::duration<double>(d).count();
}

}  // namespace switchyard

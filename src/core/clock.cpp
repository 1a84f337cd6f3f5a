#include "core/clock.hpp"

namespace switchyard {

SteadyTime steady_now() noexcept { return SteadyClock::now(); }

long long unix_seconds() noexcept {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace switchyard

// A Clock that moves only when its test says so, for timing tests (hedges, races, statistics
// that age) that must not depend on the machine's speed.
#pragma once

#include "switchyard/clock.hpp"

#include <boost/asio/steady_timer.hpp>

#include <list>

namespace switchyard::test {

// Starts at an arbitrary fixed time. Sleepers wait until advance() takes now() past their
// deadline; each wakes on its own executor. Single-threaded: the test and the coroutines it runs
// share one io_context. Destroying the clock while something sleeps on it is a test bug.
class ManualClock final : public Clock {
 public:
  SteadyTime now() const noexcept override { return now_; }
  Task<Result<void>> sleep_until(SteadyTime deadline) override;

  // Moves time forward by `by` and wakes every sleeper whose deadline has come.
  void advance(std::chrono::nanoseconds by);
  std::size_t sleepers() const { return sleepers_.size(); }

 private:
  struct Sleeper {
    SteadyTime deadline;
    boost::asio::steady_timer* timer = nullptr;
  };
  SteadyTime now_ = SteadyTime(std::chrono::hours(1000));
  std::list<Sleeper> sleepers_;
};

}  // namespace switchyard::test

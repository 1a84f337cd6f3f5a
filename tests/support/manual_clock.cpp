#include "support/manual_clock.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace switchyard::test {

Task<Result<void>> ManualClock::sleep_until(SteadyTime deadline) {
  if (deadline <= now_) co_return Result<void>{};
  // A timer that never fires by itself: advance() cancels it when its deadline comes, so a wake
  // with operation_aborted is a wake-up if the deadline has passed, and a cancellation if not.
  boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor, SteadyTime::max());
  auto it = sleepers_.insert(sleepers_.end(), Sleeper{deadline, &timer});
  co_await timer.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
  sleepers_.erase(it);
  if (now_ < deadline) co_return make_error(Reason::cancelled, "timer cancelled");
  co_return Result<void>{};
}

void ManualClock::advance(std::chrono::nanoseconds by) {
  now_ += by;
  for (auto& s : sleepers_)
    if (s.deadline <= now_) s.timer->cancel();
}

}  // namespace switchyard::test

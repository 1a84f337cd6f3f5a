#include "core/clock.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace switchyard {

namespace {

class SystemClock final : public Clock {
 public:
  SteadyTime now() const noexcept override { return SteadyClock::now(); }

  Task<Result<void>> sleep_until(SteadyTime deadline) override {
    boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor, deadline);
    auto [ec] = co_await timer.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
    if (ec) co_return make_error(Reason::cancelled, "timer cancelled");
    co_return Result<void>{};
  }
};

}  // namespace

Clock& system_clock() {
  static SystemClock clock;
  return clock;
}

SteadyTime steady_now() noexcept { return SteadyClock::now(); }

long long unix_seconds() noexcept {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace switchyard

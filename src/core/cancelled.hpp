// Whether a coroutine has been asked to stop, read where it is asked: awaiting a Task<bool> that
// reads it costs a coroutine frame, and the data path asks several times a request.
#pragma once

#include <boost/asio/cancellation_state.hpp>

namespace switchyard {

// True once the coroutine that got `state` from `co_await boost::asio::this_coro::
// cancellation_state` has been asked to stop (the client went away, a race was decided). Checked
// before each step that would start more work: an operation started after the signal, or one
// that had already completed when it came, would otherwise run on.
inline bool cancelled(const boost::asio::cancellation_state& state) noexcept {
  return state.cancelled() != boost::asio::cancellation_type::none;
}

}  // namespace switchyard

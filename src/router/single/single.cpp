// `single`: try the candidates in order; fall back to the next on connect errors, timeouts, 5xx
// and 429 as long as nothing has reached the client.
//
//   dispatcher:
//     type: single
//     max_attempts: 3        # optional; default: every candidate
#include "router/single/single.hpp"

#include "config/yaml_map.hpp"

#include <boost/asio/this_coro.hpp>

namespace switchyard {

namespace {

class SingleDispatcher final : public Dispatcher {
 public:
  explicit SingleDispatcher(std::uint32_t max_attempts) : max_attempts_(max_attempts) {}

  Task<Result<void>> dispatch(RouteContext& ctx, ResponseWriter& out) const override {
    Error last = make_error(Reason::upstream_saturated, "route has no candidates");
    std::uint32_t tried = 0;
    for (const Target* t : ctx.candidates) {
      if (max_attempts_ && tried++ >= max_attempts_) break;
      // A client that hung up during the last attempt does not get another one.
      auto state = co_await boost::asio::this_coro::cancellation_state;
      if (state.cancelled() != boost::asio::cancellation_type::none)
        co_return make_error(Reason::cancelled, "client went away");
      // A stream passes straight through, for the upstream's time to first token.
      CallResult r;
      if (ctx.request.stream)
        r = co_await call_streaming(ctx, *t, out);
      else
        r = co_await call(ctx, *t);
      if (r.committed) co_return r.error ? Result<void>(*r.error) : Result<void>{};
      if (r.ok()) co_return co_await commit(ctx, r, out);
      if (!is_retryable(*r.error)) co_return *r.error;
      last = std::move(*r.error);
    }
    co_return ctx.attempts.empty() ? Result<void>(last)
                                   : Result<void>(all_attempts_failed(ctx, std::move(last)));
  }

 private:
  std::uint32_t max_attempts_;
};

}  // namespace

Built<Dispatcher> make_single_dispatcher(const StageConfig& sc, BuildContext&) {
  std::uint32_t max_attempts = 0;
  std::string error;
  bool ok = read_guarded(error, [&] {
    Map m(*sc.node, sc.path);
    std::string type;
    m.req("type", type);
    m.opt("max_attempts", max_attempts);
    m.finish();
  });
  if (!ok) return config_error(std::move(error));
  return std::make_unique<const SingleDispatcher>(max_attempts);
}

}  // namespace switchyard

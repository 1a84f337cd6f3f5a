// call() and commit(), the two halves every dispatcher is built from, with no socket.
#include "support/fakes.hpp"
#include "support/manual_clock.hpp"
#include "switchyard/extension.hpp"

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>

namespace switchyard::test {
namespace {

// A dispatcher written against call() and commit() alone: call every candidate, keep the answers
// as data, commit the last good one. What a cascade or a best-of-n does, in a dozen lines.
class CommitLastGood final : public Dispatcher {
 public:
  Task<Result<void>> dispatch(RouteContext& ctx, ResponseWriter& out) const override {
    std::vector<CallResult> results;
    for (const Target* t : ctx.candidates) results.push_back(co_await call(ctx, *t));
    for (auto it = results.rbegin(); it != results.rend(); ++it)
      if (it->ok()) co_return co_await commit(ctx, *it, out);
    co_return all_attempts_failed(ctx, *results.back().error);
  }
};

TEST(CallAndCommit, CallsLeaveTheResponseAloneUntilOneIsCommitted) {
  Metrics metrics;
  auto snap = two_upstreams(metrics, "ok", "stream");
  auto req = chat_request(R"(,"stream":true)");
  FakeUpstreams ups;
  RouteContext ctx(*snap, req, ups);
  ctx.route = "auto";
  ctx.candidates = snap->models.at("m");
  RecordingWriter out;

  auto first = run(call(ctx, *ctx.candidates[0]));
  auto second = run(call(ctx, *ctx.candidates[1]));
  EXPECT_FALSE(out.started());  // two answers in hand, nothing sent
  EXPECT_EQ(ctx.chosen, nullptr);
  ASSERT_TRUE(first.ok());
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second.events.size(), 4u);  // buffered; the usage-only chunk is already dropped
  EXPECT_EQ(second.usage.output_tokens, 3u);
  EXPECT_EQ(second.usage.input_tokens, 7u);  // read from the usage chunk, not estimated
  EXPECT_TRUE(second.usage.reported);
  EXPECT_GT(second.cost_usd, 0);
  EXPECT_EQ(second.sent, ups.upstreams[1].bodies[0]);  // the per-call body is in the result
  EXPECT_GE(second.time_to_first_token.count(), 0);
  ASSERT_EQ(ctx.attempts.size(), 2u);

  ASSERT_TRUE(run(commit(ctx, second, out)));
  EXPECT_EQ(ctx.chosen, second.target);
  EXPECT_EQ(out.headers["x-switchyard-upstream"], "b");
  EXPECT_EQ(out.headers["x-switchyard-attempts"], "2");
  EXPECT_EQ(out.events, second.events);
  EXPECT_TRUE(out.ended);
  EXPECT_EQ(ctx.attempts[1].cost_usd, second.cost_usd);
  EXPECT_FALSE(out.trailers["x-switchyard-cost-usd"].empty());
}

TEST(CallAndCommit, ANewDispatcherIsTestedWithoutASocket) {
  Metrics metrics;
  auto snap = two_upstreams(metrics, "ok", "status=503");
  auto req = chat_request();
  FakeUpstreams ups;
  RouteContext ctx(*snap, req, ups);
  ctx.candidates = snap->models.at("m");
  RecordingWriter out;
  ASSERT_TRUE(run(CommitLastGood{}.dispatch(ctx, out)));
  EXPECT_EQ(out.status, 200);
  EXPECT_EQ(out.headers["x-switchyard-upstream"], "a");  // b's 503 was passed over
  ASSERT_EQ(ctx.attempts.size(), 2u);
  EXPECT_TRUE(ctx.attempts[0].ok);
  EXPECT_EQ(ctx.attempts[1].status, 503);
  EXPECT_EQ(ctx.attempts[1].reason, Reason::upstream_status);
}

TEST(CallAndCommit, ABufferedStreamIsBoundedByMaxResponseBytes) {
  Metrics metrics;
  auto cfg = parse_config(R"(
upstreams:
  - name: a
    base_url: http://127.0.0.1:1/v1
    max_response_bytes: 64
    models: [{name: m, id: stream}]
)",
                          "t.yaml");
  ASSERT_TRUE(cfg.config) << cfg.error;
  auto built = build_snapshot(std::move(*cfg.config), metrics);
  ASSERT_TRUE(built.snapshot) << built.error;
  auto req = chat_request(R"(,"stream":true)");
  FakeUpstreams ups;
  RouteContext ctx(*built.snapshot, req, ups);
  auto r = run(call(ctx, *built.snapshot->models.at("m")[0]));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error->reason, Reason::response_too_large);
  EXPECT_EQ(ctx.attempts[0].reason, Reason::response_too_large);
}

TEST(CallAndCommit, TimingsComeFromTheInjectedClock) {
  Metrics metrics;
  auto snap = two_upstreams(metrics, "slow=250");
  auto req = chat_request();
  ManualClock clock;
  FakeUpstreams ups(clock);
  RouteContext ctx(*snap, req, ups, clock);
  boost::asio::io_context io;
  std::optional<CallResult> result;
  boost::asio::co_spawn(io, call(ctx, *snap->models.at("m")[0]),
                        [&](std::exception_ptr, CallResult r) { result = std::move(r); });
  io.poll();
  ASSERT_FALSE(result);  // the upstream is waiting for time to pass
  EXPECT_EQ(clock.sleepers(), 1u);
  clock.advance(std::chrono::milliseconds(249));
  io.poll();
  ASSERT_FALSE(result);
  clock.advance(std::chrono::milliseconds(1));
  io.poll();
  ASSERT_TRUE(result);
  ASSERT_TRUE(result->ok());
  EXPECT_EQ(result->duration, std::chrono::milliseconds(250));  // exactly: no machine in it
  EXPECT_EQ(ctx.attempts[0].duration, std::chrono::milliseconds(250));
}

TEST(CallAndCommit, ACallToAnEndpointPricedByTheHourCostsItsShareOfTime) {
  Metrics metrics;
  auto snap = snapshot_from_yaml(metrics, R"(
upstreams:
  - name: gpu
    base_url: http://127.0.0.1:1/v1
    usd_per_hour: 36
    max_concurrent: 4
    models: [{name: m, id: "slow=1000", price_usd_per_mtok: {input: 1, output: 2}}]
)");
  ASSERT_TRUE(snap);
  auto req = chat_request();
  ManualClock clock;
  FakeUpstreams ups(clock);
  RouteContext ctx(*snap, req, ups, clock);
  boost::asio::io_context io;
  std::optional<CallResult> result;
  boost::asio::co_spawn(io, call(ctx, *snap->models.at("m")[0]),
                        [&](std::exception_ptr, CallResult r) { result = std::move(r); });
  io.poll();
  clock.advance(std::chrono::seconds(1));
  io.poll();
  ASSERT_TRUE(result && result->ok());
  // Tokens at list price, plus 36 USD/h × 1 s / 4 calls at once.
  EXPECT_NEAR(result->cost_usd, (7 * 1.0 + 3 * 2.0) / 1e6 + 36.0 / 3600 / 4, 1e-12);
  EXPECT_NEAR(ctx.attempts[0].cost_usd, result->cost_usd, 1e-12);
}

TEST(ManualClock, ASleeperCancelledBeforeItsDeadlineSaysSo) {
  ManualClock clock;
  boost::asio::io_context io;
  std::optional<Result<void>> woke;
  boost::asio::cancellation_signal cancel;
  boost::asio::co_spawn(
      io, clock.sleep_until(clock.now() + std::chrono::seconds(1)),
      boost::asio::bind_cancellation_slot(
          cancel.slot(), [&](std::exception_ptr, Result<void> r) { woke = std::move(r); }));
  io.poll();
  ASSERT_FALSE(woke);
  cancel.emit(boost::asio::cancellation_type::terminal);
  io.poll();
  ASSERT_TRUE(woke);
  ASSERT_FALSE(*woke);
  EXPECT_EQ(woke->error().reason, Reason::cancelled);
  EXPECT_EQ(clock.sleepers(), 0u);
}

}  // namespace
}  // namespace switchyard::test

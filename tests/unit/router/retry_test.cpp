// The `single` dispatcher's retries: backoff with jitter, retry-after, the retry budget, and
// waiting for a sole candidate that is cooling down. No socket; time is a ManualClock that the
// test moves, so every wait is checked to the millisecond.
#include "support/fakes.hpp"
#include "support/manual_clock.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>

namespace switchyard::test {
namespace {

using std::chrono::milliseconds;

std::string config(const std::string& model_id, const std::string& retry) {
  return R"(
upstreams:
  - name: u
    base_url: http://127.0.0.1:1/v1
    models:
      - {name: m, id: ")" + model_id + R"("}
routes:
  auto:
    stages:
      - {type: static, models: [m]}
    dispatcher: {type: single, retry: {)" + retry + R"(}}
)";
}

class Retry : public ::testing::Test {
 protected:
  // Dispatches one request on a snapshot of config(model_id, retry), unless the test built one.
  void start(const std::string& model_id, const std::string& retry) {
    if (!snap_) snap_ = snapshot_from_yaml(metrics_, config(model_id, retry));
    ASSERT_TRUE(snap_);
    ctx_.emplace(*snap_, req_, ups_, clock_);
    ctx_->route = "auto";
    ctx_->candidates = snap_->models.at("m");
    io_.restart();  // after the run of an earlier request, if any
    boost::asio::co_spawn(io_, snap_->routes.at("auto").dispatcher->dispatch(*ctx_, out_),
                          [&](std::exception_ptr, Result<void> r) { result_ = std::move(r); });
    io_.poll();
  }
  std::size_t calls() { return ups_.upstreams[0].bodies.size(); }
  void advance(milliseconds by) {
    clock_.advance(by);
    io_.poll();
  }

  Metrics metrics_;
  ManualClock clock_;
  FakeUpstreams ups_{clock_};
  ApiRequest req_ = chat_request();
  std::shared_ptr<const Snapshot> snap_;
  std::optional<RouteContext> ctx_;
  RecordingWriter out_;
  boost::asio::io_context io_;
  std::optional<Result<void>> result_;
};

TEST_F(Retry, BacksOffWithJitterUntilTheUpstreamRecovers) {
  start("fail-first=2", "max_retries: 3, backoff_ms: 100, budget: 1");
  EXPECT_EQ(calls(), 1u);
  ASSERT_FALSE(result_);
  EXPECT_EQ(clock_.sleepers(), 1u);
  advance(milliseconds(49));  // the first pause is half to all of backoff_ms
  EXPECT_EQ(calls(), 1u);
  advance(milliseconds(51));
  EXPECT_EQ(calls(), 2u);
  advance(milliseconds(200));  // the second at most twice that
  ASSERT_TRUE(result_);
  ASSERT_TRUE(*result_) << result_->error().message;
  EXPECT_EQ(calls(), 3u);
  EXPECT_EQ(out_.status, 200);
  EXPECT_EQ(ctx_->attempts.size(), 3u);
}

TEST_F(Retry, WaitsAsLongAsTheUpstreamAsks) {
  start("fail-first=1:300", "max_retries: 1, backoff_ms: 10, budget: 1");
  advance(milliseconds(299));
  EXPECT_EQ(calls(), 1u);
  advance(milliseconds(1));
  EXPECT_EQ(calls(), 2u);
  ASSERT_TRUE(result_ && *result_);
}

TEST_F(Retry, APauseLongerThanTheRequestMayWaitIsNotTaken) {
  start("fail-first=1:9000", "max_retries: 1, max_wait_ms: 5000, budget: 1");
  ASSERT_TRUE(result_);  // failed at once
  ASSERT_FALSE(*result_);
  EXPECT_EQ(result_->error().status, 503);
  EXPECT_EQ(result_->error().retry_after_ms, 9000u);  // for the client to wait instead
  EXPECT_EQ(calls(), 1u);
}

TEST_F(Retry, TheBudgetCapsTheShareOfRequestsThatRetry) {
  start("fail-first=1000", "max_retries: 1, backoff_ms: 1, budget: 0");
  ASSERT_TRUE(result_);
  EXPECT_FALSE(*result_);
  EXPECT_EQ(calls(), 1u);  // a budget of 0: no request may retry
}

TEST_F(Retry, AtMostTheBudgetsShareOfRequestsRetry) {
  // 40 requests that all fail, each allowed one retry, under a budget of 25%: the first three
  // retry (the budget's floor), then one more each time 4 more requests have come: 10 in all.
  // (No breaker, which would open and make them wait.)
  std::string yaml = config("fail-first=1000", "max_retries: 1, backoff_ms: 1, budget: 0.25");
  yaml.insert(yaml.find("    models:"), "    breaker: {enabled: false}\n");
  snap_ = snapshot_from_yaml(metrics_, yaml);
  for (int i = 0; i < 40; ++i) {
    start("", "");
    advance(milliseconds(1));
    ASSERT_TRUE(result_) << i;
    EXPECT_FALSE(*result_);
    result_.reset();
  }
  EXPECT_EQ(calls(), 50u);
}

TEST_F(Retry, ASoleCandidateCoolingDownIsWaitedFor) {
  snap_ = snapshot_from_yaml(metrics_, config("ok", "max_retries: 1, max_wait_ms: 5000"));
  const Target& t = *snap_->models.at("m")[0];
  for (int i = 0; i < 5; ++i)  // consecutive_failures opens it for open_ms (2 s, +20% jitter)
    t.state->breaker.record({&t, false, Reason::connect, 0, {}, milliseconds(-1), 0, 0, 0,
                             clock_.now()},
                            t.upstream_config->breaker);
  const auto half_open = t.state->breaker.half_open_at(clock_.now());
  ASSERT_TRUE(half_open);
  const auto wait = std::chrono::duration_cast<milliseconds>(*half_open - clock_.now());
  start("", "");  // on that snapshot
  EXPECT_EQ(calls(), 0u);
  advance(wait - milliseconds(1));
  EXPECT_EQ(calls(), 0u);
  advance(milliseconds(1));
  EXPECT_EQ(calls(), 1u);
  ASSERT_TRUE(result_ && *result_);
}

TEST_F(Retry, NoRequestWaitsLongerThanItMayOrForOneOfSeveralCandidates) {
  snap_ = snapshot_from_yaml(metrics_, config("ok", "max_retries: 1, max_wait_ms: 5000"));
  const Target& t = *snap_->models.at("m")[0];
  for (int i = 0; i < 5; ++i)
    t.state->breaker.record({&t, false, Reason::connect, 0, {}, milliseconds(-1), 0, 0, 0,
                             clock_.now()},
                            t.upstream_config->breaker);
  ASSERT_TRUE(t.state->breaker.half_open_at(clock_.now()));
  req_.max_latency_ms = 500;  // the breaker turns half-open after 2 s at the earliest
  start("", "");
  ASSERT_TRUE(result_);  // tried at once, not waited for: the fake answers
  EXPECT_EQ(calls(), 1u);
  EXPECT_EQ(clock_.sleepers(), 0u);
  // Two candidates, both the same open target: no wait either, whatever the limits.
  result_.reset();
  req_.max_latency_ms.reset();
  ctx_.emplace(*snap_, req_, ups_, clock_);
  ctx_->route = "auto";
  ctx_->candidates = {&t, &t};
  io_.restart();
  boost::asio::co_spawn(io_, snap_->routes.at("auto").dispatcher->dispatch(*ctx_, out_),
                        [&](std::exception_ptr, Result<void> r) { result_ = std::move(r); });
  io_.poll();
  ASSERT_TRUE(result_);
  EXPECT_EQ(calls(), 2u);
}

TEST_F(Retry, ConfigErrorsNameThePath) {
  EXPECT_EQ(snapshot_error(metrics_, config("ok", "max_retries: 11")),
            "routes.auto.dispatcher.retry.max_retries: must be at most 10");
  EXPECT_EQ(snapshot_error(metrics_, config("ok", "backoff_ms: 100, max_backoff_ms: 10")),
            "routes.auto.dispatcher.retry.max_backoff_ms: must be at least backoff_ms");
  EXPECT_EQ(snapshot_error(metrics_, config("ok", "budget: 2")),
            "routes.auto.dispatcher.retry.budget: must be a share, 0 to 1");
}

}  // namespace
}  // namespace switchyard::test

// Dispatchers against FakeUpstream and RecordingWriter: no socket, no thread, no clock.
#include "api/request.hpp"
#include "metrics/metrics.hpp"
#include "router/call.hpp"
#include "router/snapshot.hpp"
#include "support/fakes.hpp"

#include <gtest/gtest.h>

namespace switchyard::test {
namespace {

// Two upstreams serving model "m": the first answers with upstream id `first`, the second "ok".
std::shared_ptr<const Snapshot> snapshot(Metrics& metrics, const std::string& first,
                                         const std::string& second = "ok") {
  auto cfg = parse_config(R"(
upstreams:
  - name: a
    base_url: http://127.0.0.1:1/v1
    models:
      - name: m
        id: ")" + first + R"("
        price_usd_per_mtok: {input: 1, output: 2}
  - name: b
    base_url: http://127.0.0.1:1/v1
    models:
      - name: m
        id: ")" + second + R"("
        price_usd_per_mtok: {input: 1, output: 2}
)",
                          "t.yaml");
  EXPECT_TRUE(cfg.config) << cfg.error;
  auto built = build_snapshot(std::move(*cfg.config), metrics);
  EXPECT_TRUE(built.snapshot) << built.error;
  return built.snapshot;
}

ApiRequest request(const std::string& extra = {}) {
  auto r = parse_api_request(
      Endpoint::chat_completions,
      R"({"model":"m","messages":[{"role":"user","content":"x"}])" + extra + "}");
  EXPECT_TRUE(r);
  return std::move(*r);
}

TEST(SingleDispatcher, FallsBackFromA503ToTheNextUpstream) {
  Metrics metrics;
  auto snap = snapshot(metrics, "status=503");
  auto req = request();
  FakeUpstreams ups;
  RouteContext ctx(*snap, req, ups);
  ctx.route = "passthrough";
  ctx.candidates = snap->models.at("m");
  RecordingWriter out;
  ASSERT_TRUE(run(snap->passthrough->dispatch(ctx, out)));
  EXPECT_EQ(out.status, 200);
  EXPECT_EQ(out.headers["x-switchyard-upstream"], "b");
  EXPECT_EQ(out.headers["x-switchyard-attempts"], "2");
  ASSERT_EQ(ctx.attempts.size(), 2u);
  EXPECT_EQ(ctx.attempts[0].status, 503);
  EXPECT_FALSE(ctx.attempts[0].ok);
  EXPECT_TRUE(ctx.attempts[1].ok);
  // Each upstream was sent the client's body with its own model id.
  ASSERT_EQ(ups.upstreams[0].bodies.size(), 1u);
  EXPECT_EQ(ups.upstreams[0].bodies[0],
            R"({"model":"status=503","messages":[{"role":"user","content":"x"}]})");
  EXPECT_NEAR(ctx.cost_usd, (7 * 1.0 + 3 * 2.0) / 1e6, 1e-12);
}

TEST(SingleDispatcher, StreamsEventsAndStripsTheUsageChunkNobodyAskedFor) {
  Metrics metrics;
  auto snap = snapshot(metrics, "ok");
  auto req = request(R"(,"stream":true)");
  FakeUpstreams ups;
  RouteContext ctx(*snap, req, ups);
  ctx.candidates = snap->models.at("m");
  RecordingWriter out;
  ASSERT_TRUE(run(snap->passthrough->dispatch(ctx, out)));
  EXPECT_TRUE(out.ended);
  ASSERT_EQ(out.events.size(), 4u);  // three content events and [DONE]
  EXPECT_EQ(out.events.back(), "data: [DONE]\n\n");
  EXPECT_EQ(ctx.usage.output_tokens, 3u);  // read from the stripped chunk all the same
  EXPECT_FALSE(out.trailers["x-switchyard-cost-usd"].empty());
  // The gateway asked for usage, for the cost.
  EXPECT_NE(ups.upstreams[0].bodies[0].find(R"("stream_options":{"include_usage":true})"),
            std::string::npos);
}

TEST(SingleDispatcher, WhenEveryCallFailsEachAttemptIsKept) {
  Metrics metrics;
  auto snap = snapshot(metrics, "connect", "timeout");
  auto req = request();
  FakeUpstreams ups;
  RouteContext ctx(*snap, req, ups);
  ctx.candidates = snap->models.at("m");
  RecordingWriter out;
  auto r = run(snap->passthrough->dispatch(ctx, out));
  ASSERT_FALSE(r);
  EXPECT_FALSE(out.started());  // the session answers the error
  EXPECT_EQ(r.error().status, 504);
  ASSERT_EQ(ctx.attempts.size(), 2u);
  EXPECT_EQ(ctx.attempts[0].reason, Reason::connect);
  EXPECT_EQ(ctx.attempts[1].reason, Reason::timeout_first_token);
  EXPECT_NE(r.error().message.find("[1] a/m: connect [2] b/m: timeout_first_token"),
            std::string::npos)
      << r.error().message;
  // The same attempts, as data, for the client and the logs.
  ASSERT_EQ(r.error().attempts.size(), 2u);
  EXPECT_EQ(r.error().attempts[0].upstream, "a");
  EXPECT_EQ(r.error().attempts[0].reason, Reason::connect);
  EXPECT_EQ(r.error().attempts[0].message, "fake refused");
  EXPECT_EQ(r.error().attempts[1].upstream, "b");
  EXPECT_EQ(r.error().attempts[1].reason, Reason::timeout_first_token);
  EXPECT_NE(to_openai_json(r.error()).find(R"("attempts":[{"message":"fake refused")"),
            std::string::npos)
      << to_openai_json(r.error());
}

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
  auto snap = snapshot(metrics, "ok", "stream");
  auto req = request(R"(,"stream":true)");
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
  EXPECT_EQ(ctx.cost_usd, second.cost_usd);
  EXPECT_FALSE(out.trailers["x-switchyard-cost-usd"].empty());
}

TEST(CallAndCommit, ANewDispatcherIsTestedWithoutASocket) {
  Metrics metrics;
  auto snap = snapshot(metrics, "ok", "status=503");
  auto req = request();
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
  auto req = request(R"(,"stream":true)");
  FakeUpstreams ups;
  RouteContext ctx(*built.snapshot, req, ups);
  auto r = run(call(ctx, *built.snapshot->models.at("m")[0]));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error->reason, Reason::response_too_large);
  EXPECT_EQ(ctx.attempts[0].reason, Reason::response_too_large);
}

}  // namespace
}  // namespace switchyard::test

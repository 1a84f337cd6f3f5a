// Dispatchers against FakeUpstream and RecordingWriter: no socket, no thread, no clock.
#include "api/request.hpp"
#include "metrics/metrics.hpp"
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
}

}  // namespace
}  // namespace switchyard::test

// The `single` dispatcher against FakeUpstream and RecordingWriter: no socket, no thread.
#include "support/fakes.hpp"

#include <gtest/gtest.h>

namespace switchyard::test {
namespace {

TEST(SingleDispatcher, FallsBackFromA503ToTheNextUpstream) {
  Metrics metrics;
  auto snap = two_upstreams(metrics, "status=503");
  auto req = chat_request();
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
  EXPECT_NEAR(ctx.attempts[1].cost_usd, (7 * 1.0 + 3 * 2.0) / 1e6, 1e-12);
  EXPECT_EQ(out.headers["x-switchyard-cost-usd"], "0.00001300");  // the failed call cost nothing
}

TEST(SingleDispatcher, StreamsEventsAndStripsTheUsageChunkNobodyAskedFor) {
  Metrics metrics;
  auto snap = two_upstreams(metrics, "ok");
  auto req = chat_request(R"(,"stream":true)");
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
  auto snap = two_upstreams(metrics, "connect", "timeout");
  auto req = chat_request();
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

}  // namespace
}  // namespace switchyard::test

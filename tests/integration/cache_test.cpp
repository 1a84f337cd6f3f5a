// The response cache end to end, against the simulator: a repeated deterministic request is
// answered from memory, as JSON or as the same event stream, with no upstream call.
#include "support/fixture.hpp"

#include <fmt/format.h>

namespace switchyard::test {
namespace {

std::string config(unsigned short sim_port) {
  return fmt::format(R"(
upstreams:
  - name: sim
    base_url: http://127.0.0.1:{}/v1
    models:
      - {{name: m, price_usd_per_mtok: {{input: 1, output: 2}}}}
routes:
  auto:
    stages:
      - {{type: cache, ttl_s: 60}}
      - {{type: static, models: [m]}}
)",
                     sim_port);
}

TEST(ResponseCache, ARepeatedRequestMakesNoUpstreamCall) {
  auto sim = start_sim();
  GatewayUnderTest gw(config(sim->port()));
  const std::string body = chat_body("auto", R"("temperature":0)");
  auto first = post_json(gw.port(), "/v1/chat/completions", body);
  ASSERT_EQ(first.status, 200) << first.body;
  EXPECT_EQ(first.header("x-switchyard-cache"), "miss");
  EXPECT_EQ(first.header("x-switchyard-attempts"), "1");
  // The answer is kept once the request has ended on the gateway.
  HttpResponse second;
  ASSERT_TRUE(eventually([&] {
    second = post_json(gw.port(), "/v1/chat/completions", body);
    return second.header("x-switchyard-cache") == "hit";
  }));
  EXPECT_EQ(second.status, 200);
  EXPECT_EQ(second.body, first.body);
  EXPECT_EQ(second.header("x-switchyard-cost-usd"), "0.00000000");
  EXPECT_EQ(second.header("x-switchyard-model"), "m");

  auto sampled = post_json(gw.port(), "/v1/chat/completions", chat_body("auto"));
  EXPECT_EQ(sampled.header("x-switchyard-cache"), "");  // not deterministic: not looked up

  std::string text;
  ASSERT_TRUE(eventually([&] {
    text = http_request(gw.port(), "GET", "/metrics").body;
    return metric(text, R"(switchyard_cache_requests_total{result="skip",route="auto"})") == 1;
  })) << text;
  EXPECT_EQ(metric(text, R"(switchyard_cache_requests_total{result="hit",route="auto"})"), 1);
  // Every miss but the first was a lookup racing the keep; each of them called upstream.
  const double misses =
      metric(text, R"(switchyard_cache_requests_total{result="miss",route="auto"})");
  EXPECT_GE(misses, 1);
  EXPECT_EQ(metric(text, R"(switchyard_upstream_attempts_total{model="m",outcome="ok",upstream="sim"})"),
            misses + 1);  // the misses and the sampled request, not the hit
}

TEST(ResponseCache, AStreamIsReplayedEventForEvent) {
  auto sim = start_sim();
  GatewayUnderTest gw(config(sim->port()));
  const std::string body = chat_body("auto", R"("temperature":0,"stream":true)");
  auto first = read_sse(gw.port(), body);
  ASSERT_EQ(first.status, 200);
  ASSERT_TRUE(first.complete);
  EXPECT_EQ(first.headers["x-switchyard-cache"], "miss");
  SseResult second;
  ASSERT_TRUE(eventually([&] {
    second = read_sse(gw.port(), body);
    return second.headers["x-switchyard-cache"] == "hit";
  }));
  EXPECT_TRUE(second.complete);
  EXPECT_EQ(second.events, first.events);
  EXPECT_EQ(second.trailers["x-switchyard-cost-usd"], "0.00000000");
}

}  // namespace
}  // namespace switchyard::test

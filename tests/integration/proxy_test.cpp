// The gateway against in-process simulated upstreams: passthrough, streaming, fallback and the
// failure modes of upstreams.
#include "support/fixture.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <thread>

namespace switchyard::test {
namespace {

using json = nlohmann::json;

// One upstream "sim" at `port` serving the given models; each entry is "name=id".
std::string upstream_yaml(const std::string& name, const std::string& base_url,
                          const std::vector<std::pair<std::string, std::string>>& models,
                          const std::string& extra = {}) {
  std::string y = fmt::format("  - name: {}\n    base_url: {}\n{}    models:\n", name, base_url,
                              extra);
  for (const auto& [m, id] : models)
    y += fmt::format("      - name: {}\n        id: \"{}\"\n        price_usd_per_mtok: "
                     "{{input: 1.0, output: 2.0}}\n",
                     m, id);
  return y;
}

std::string url(unsigned short port) { return fmt::format("http://127.0.0.1:{}/v1", port); }

class ProxyTest : public ::testing::Test {
 protected:
  void SetUp() override { sim_ = start_sim(); }
  std::unique_ptr<SimServer> sim_;
};

TEST_F(ProxyTest, PassthroughReturnsUpstreamAnswerWithDecisionHeaders) {
  GatewayUnderTest gw("upstreams:\n" + upstream_yaml("sim", url(sim_->port()),
                                                     {{"small", "small;tokens=5"}}));
  auto r = post_json(gw.port(), "/v1/chat/completions", chat_body("small"),
                     {{"x-request-id", "req-123"}});
  ASSERT_EQ(r.status, 200) << r.body;
  auto j = json::parse(r.body);
  EXPECT_EQ(j["object"], "chat.completion");
  EXPECT_FALSE(j["choices"][0]["message"]["content"].get<std::string>().empty());
  EXPECT_EQ(j["usage"]["completion_tokens"], 5);
  EXPECT_EQ(r.header("x-switchyard-route"), "passthrough");
  EXPECT_EQ(r.header("x-switchyard-model"), "small");
  EXPECT_EQ(r.header("x-switchyard-upstream"), "sim");
  EXPECT_EQ(r.header("x-switchyard-attempts"), "1");
  EXPECT_EQ(r.header("x-request-id"), "req-123");
  EXPECT_FALSE(r.header("x-upstream-request-id").empty());
  // prompt_tokens * 1.0 + 5 * 2.0, per million.
  const double expected = (j["usage"]["prompt_tokens"].get<double>() * 1.0 + 5 * 2.0) / 1e6;
  EXPECT_NEAR(std::stod(r.header("x-switchyard-cost-usd")), expected, 1e-9);
}

TEST_F(ProxyTest, RewritesModelAndGeneratesRequestId) {
  GatewayUnderTest gw("upstreams:\n" +
                      upstream_yaml("sim", url(sim_->port()), {{"public-name", "internal-id"}}));
  auto r = post_json(gw.port(), "/v1/chat/completions", chat_body("public-name"));
  ASSERT_EQ(r.status, 200);
  // The sim echoes the model it was sent: the upstream's id, not the client's name.
  EXPECT_EQ(json::parse(r.body)["model"], "internal-id");
  EXPECT_EQ(r.header("x-request-id").size(), 32u);
}

TEST_F(ProxyTest, CompletionsAndEmbeddingsPassThrough) {
  GatewayUnderTest gw("upstreams:\n" + upstream_yaml("sim", url(sim_->port()),
                                                     {{"m", "m"}, {"e", "e"}}));
  auto c = post_json(gw.port(), "/v1/completions", R"({"model":"m","prompt":"Once upon"})");
  ASSERT_EQ(c.status, 200) << c.body;
  EXPECT_EQ(json::parse(c.body)["object"], "text_completion");
  auto e = post_json(gw.port(), "/v1/embeddings", R"({"model":"e","input":["a","b"]})");
  ASSERT_EQ(e.status, 200) << e.body;
  EXPECT_EQ(json::parse(e.body)["data"].size(), 2u);
}

TEST_F(ProxyTest, StreamRelaysEventsAndUsageOnlyWhenAsked) {
  GatewayUnderTest gw("upstreams:\n" +
                      upstream_yaml("sim", url(sim_->port()), {{"s", "s;tokens=6"}}));
  auto with = read_sse(gw.port(), chat_body("s", R"("stream":true,"stream_options":{"include_usage":true})"));
  ASSERT_EQ(with.status, 200);
  EXPECT_EQ(with.headers["content-type"], "text/event-stream");
  ASSERT_TRUE(with.complete);
  ASSERT_GE(with.events.size(), 9u);  // role + 6 tokens + finish + usage + [DONE]
  EXPECT_EQ(with.events.back(), "[DONE]");
  auto usage = json::parse(with.events[with.events.size() - 2]);
  EXPECT_EQ(usage["usage"]["completion_tokens"], 6);
  EXPECT_TRUE(usage["choices"].empty());
  EXPECT_FALSE(with.trailers["x-switchyard-cost-usd"].empty());
  EXPECT_GT(std::stod(with.trailers["x-switchyard-cost-usd"]), 0.0);
  // The cost also travels in-band, for SDKs that cannot read trailers.
  ASSERT_TRUE(usage["usage"]["cost"].is_number()) << usage.dump();
  EXPECT_NEAR(usage["usage"]["cost"].get<double>(),
              std::stod(with.trailers["x-switchyard-cost-usd"]), 1e-8);

  auto without = read_sse(gw.port(), chat_body("s", R"("stream":true)"));
  ASSERT_TRUE(without.complete);
  for (const auto& e : without.events) {
    if (e == "[DONE]") continue;
    EXPECT_FALSE(json::parse(e)["choices"].empty()) << "usage chunk leaked: " << e;
  }
  // The gateway still knew the usage (it asked the upstream), so the cost is the same.
  EXPECT_EQ(without.trailers["x-switchyard-cost-usd"], with.trailers["x-switchyard-cost-usd"]);
}

TEST_F(ProxyTest, StreamEventsArriveAsTheyAreProduced) {
  GatewayUnderTest gw("upstreams:\n" + upstream_yaml("sim", url(sim_->port()),
                                                     {{"slow", "slow;tokens=4;token_interval_ms=150"}}));
  auto start = std::chrono::steady_clock::now();
  auto first = read_sse(gw.port(), chat_body("slow", R"("stream":true)"), 2);
  auto elapsed = std::chrono::steady_clock::now() - start;
  ASSERT_EQ(first.events.size(), 2u);
  // The whole stream takes >= 600 ms; the first two events must not wait for it.
  EXPECT_LT(elapsed, std::chrono::milliseconds(450));
}

TEST_F(ProxyTest, FallsBackOn5xx) {
  GatewayUnderTest gw("upstreams:\n" +
                      upstream_yaml("broken", url(sim_->port()), {{"m", "m;status=500"}}) +
                      upstream_yaml("good", url(sim_->port()), {{"m", "m"}}));
  auto r = post_json(gw.port(), "/v1/chat/completions", chat_body("m"));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.header("x-switchyard-upstream"), "good");
  EXPECT_EQ(r.header("x-switchyard-attempts"), "2");
}

TEST_F(ProxyTest, FallsBackOnConnectionRefused) {
  GatewayUnderTest gw("upstreams:\n" +
                      upstream_yaml("dead", url(closed_port()), {{"m", "m"}}) +
                      upstream_yaml("good", url(sim_->port()), {{"m", "m"}}));
  auto r = post_json(gw.port(), "/v1/chat/completions", chat_body("m"));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.header("x-switchyard-upstream"), "good");
  auto metrics = http_request(gw.port(), "GET", "/metrics").body;
  EXPECT_NE(metrics.find(R"(switchyard_upstream_errors_total{reason="connect",upstream="dead"} 1)"),
            std::string::npos)
      << metrics;
}

TEST_F(ProxyTest, FallsBackOnFirstTokenTimeout) {
  GatewayUnderTest gw(
      "upstreams:\n" +
      upstream_yaml("slow", url(sim_->port()), {{"m", "m;delay_ms=3000"}},
                    "    first_token_timeout_ms: 200\n") +
      upstream_yaml("good", url(sim_->port()), {{"m", "m"}}));
  auto start = std::chrono::steady_clock::now();
  auto r = post_json(gw.port(), "/v1/chat/completions", chat_body("m"));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.header("x-switchyard-upstream"), "good");
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(2000));
}

TEST_F(ProxyTest, AllAttemptsFailingGivesAggregateOpenAiError) {
  GatewayUnderTest gw(
      "upstreams:\n" + upstream_yaml("a", url(sim_->port()), {{"m", "m;status=503"}}) +
      upstream_yaml("b", url(sim_->port()), {{"m", "m;delay_ms=2000"}},
                    "    first_token_timeout_ms: 100\n"));
  auto r = post_json(gw.port(), "/v1/chat/completions", chat_body("m"));
  EXPECT_EQ(r.status, 504);  // the last attempt's failure decides
  EXPECT_EQ(r.header("x-switchyard-attempts"), "2");
  auto e = json::parse(r.body)["error"];
  EXPECT_EQ(e["type"], "timeout_error");
  auto msg = e["message"].get<std::string>();
  EXPECT_NE(msg.find("[1] a/m: HTTP 503"), std::string::npos) << msg;
  EXPECT_NE(msg.find("[2] b/m: timeout_first_token"), std::string::npos) << msg;
}

TEST_F(ProxyTest, Upstream429IsPassedOnWithRetryAfter) {
  GatewayUnderTest gw("upstreams:\n" + upstream_yaml("a", url(sim_->port()),
                                                     {{"m", "m;status=429;retry_after_s=7"}}));
  auto r = post_json(gw.port(), "/v1/chat/completions", chat_body("m"));
  EXPECT_EQ(r.status, 429);
  EXPECT_EQ(r.header("retry-after"), "7");
  EXPECT_EQ(r.header("retry-after-ms"), "7000");
  EXPECT_EQ(json::parse(r.body)["error"]["code"], "upstream_rate_limited");
}

TEST_F(ProxyTest, Upstream4xxIsRelayedNotRetried) {
  GatewayUnderTest gw("upstreams:\n" +
                      upstream_yaml("a", url(sim_->port()), {{"m", "m;status=422"}}) +
                      upstream_yaml("b", url(sim_->port()), {{"m", "m"}}));
  auto r = post_json(gw.port(), "/v1/chat/completions", chat_body("m"));
  EXPECT_EQ(r.status, 422);
  EXPECT_EQ(r.header("x-switchyard-upstream"), "a");
  EXPECT_TRUE(json::parse(r.body).contains("error"));
}

// A stream request answered with an error: the upstream's body reaches the client whole.
TEST_F(ProxyTest, Upstream4xxToAStreamRequestIsRelayedWithItsBody) {
  GatewayUnderTest gw("upstreams:\n" +
                      upstream_yaml("a", url(sim_->port()), {{"m", "m;status=422"}}));
  auto r = post_json(gw.port(), "/v1/chat/completions", chat_body("m", R"("stream":true)"));
  EXPECT_EQ(r.status, 422);
  EXPECT_EQ(r.header("content-type"), "application/json");
  EXPECT_EQ(json::parse(r.body)["error"]["message"], "simulated failure (HTTP 422)");
}

TEST_F(ProxyTest, GarbageAndResetFromUpstreamAre502) {
  GatewayUnderTest gw("upstreams:\n" + upstream_yaml("a", url(sim_->port()),
                                                     {{"g", "g;garbage"}, {"r", "r;reset"}}));
  for (const char* m : {"g", "r"}) {
    auto r = post_json(gw.port(), "/v1/chat/completions", chat_body(m));
    EXPECT_EQ(r.status, 502) << m << ": " << r.body;
    EXPECT_EQ(json::parse(r.body)["error"]["type"], "api_error");
  }
}

TEST_F(ProxyTest, UpstreamCutMidStreamEndsWithErrorEvent) {
  GatewayUnderTest gw("upstreams:\n" +
                      upstream_yaml("a", url(sim_->port()), {{"m", "m;tokens=10;cut_after=3"}}) +
                      upstream_yaml("b", url(sim_->port()), {{"m", "m"}}));
  auto s = read_sse(gw.port(), chat_body("m", R"("stream":true)"));
  ASSERT_EQ(s.status, 200);
  EXPECT_TRUE(s.complete) << "the gateway must close the stream cleanly";
  ASSERT_FALSE(s.events.empty());
  auto last = json::parse(s.events.back());
  ASSERT_TRUE(last.contains("error")) << s.events.back();
  EXPECT_EQ(last["error"]["code"], "protocol");
  // No fallback once bytes reached the client: every content event came from upstream a.
  EXPECT_EQ(s.headers["x-switchyard-upstream"], "a");
}

TEST_F(ProxyTest, StreamAnsweredWithoutSseFallsBack) {
  GatewayUnderTest gw("upstreams:\n" +
                      upstream_yaml("plain", url(sim_->port()), {{"m", "m;ignore_stream"}}) +
                      upstream_yaml("good", url(sim_->port()), {{"m", "m"}}));
  auto s = read_sse(gw.port(), chat_body("m", R"("stream":true)"));
  ASSERT_EQ(s.status, 200);
  EXPECT_EQ(s.headers["x-switchyard-upstream"], "good");
  EXPECT_EQ(s.events.back(), "[DONE]");
}

TEST_F(ProxyTest, StreamToHttp10ClientIsUnframedAndCloses) {
  GatewayUnderTest gw("upstreams:\n" +
                      upstream_yaml("a", url(sim_->port()), {{"m", "m;tokens=3"}}));
  auto body = chat_body("m", R"("stream":true)");
  auto out = raw_exchange(gw.port(),
                          "POST /v1/chat/completions HTTP/1.0\r\nContent-Length: " +
                              std::to_string(body.size()) + "\r\n\r\n" + body,
                          std::chrono::milliseconds(3000));
  EXPECT_EQ(out.rfind("HTTP/1.0 200 OK", 0), 0u) << out;
  EXPECT_EQ(out.find("chunked"), std::string::npos) << out;
  EXPECT_NE(out.find("\r\n\r\ndata: {"), std::string::npos) << out;
  EXPECT_NE(out.find("data: [DONE]\n\n"), std::string::npos) << out;
}

TEST_F(ProxyTest, IdleStreamTimeoutEndsWithErrorEvent) {
  GatewayUnderTest gw("upstreams:\n" +
                      upstream_yaml("a", url(sim_->port()), {{"m", "m;tokens=10;stall_after=2"}},
                                    "    idle_stream_timeout_ms: 200\n"));
  auto s = read_sse(gw.port(), chat_body("m", R"("stream":true)"));
  ASSERT_EQ(s.status, 200);
  EXPECT_TRUE(s.complete);
  ASSERT_FALSE(s.events.empty());
  EXPECT_EQ(json::parse(s.events.back())["error"]["code"], "timeout_idle_stream");
}

TEST_F(ProxyTest, ClientDisconnectCancelsUpstreamStream) {
  GatewayUnderTest gw("upstreams:\n" + upstream_yaml("a", url(sim_->port()),
                                                     {{"m", "m;tokens=200;token_interval_ms=20"}}));
  auto s = read_sse(gw.port(), chat_body("m", R"("stream":true)"), 3);
  ASSERT_EQ(s.events.size(), 3u);
  // The upstream notices within a few token intervals: its connection was closed, not pooled.
  EXPECT_TRUE(eventually([&] { return sim_->stats().cancelled_streams.load() == 1; },
                         std::chrono::milliseconds(2000)));
  EXPECT_EQ(sim_->stats().completed_streams.load(), 0u);
  EXPECT_TRUE(eventually([&] {
    auto m = http_request(gw.port(), "GET", "/metrics").body;
    return m.find(R"(switchyard_requests_total{code="499",model="m",route="passthrough"} 1)") !=
           std::string::npos;
  }));
}

TEST_F(ProxyTest, ClientDisconnectCancelsNonStreamingUpstreamCall) {
  GatewayUnderTest gw("upstreams:\n" +
                      upstream_yaml("a", url(sim_->port()), {{"m", "m;delay_ms=1500"}}));
  auto start = std::chrono::steady_clock::now();
  std::string req = "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: "
                    "application/json\r\nContent-Length: " +
                    std::to_string(chat_body("m").size()) + "\r\n\r\n" + chat_body("m");
  raw_exchange(gw.port(), req, std::chrono::milliseconds(100));  // hangs up after 100 ms
  EXPECT_TRUE(eventually([&] {
    auto m = http_request(gw.port(), "GET", "/metrics").body;
    return m.find(R"(outcome="cancelled")") != std::string::npos;
  }));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(1400));
}

TEST_F(ProxyTest, ReusesUpstreamConnections) {
  GatewayUnderTest gw("upstreams:\n" + upstream_yaml("a", url(sim_->port()), {{"m", "m"}}));
  for (int i = 0; i < 40; ++i) {
    auto r = post_json(gw.port(), "/v1/chat/completions", chat_body("m"));
    ASSERT_EQ(r.status, 200);
    auto s = read_sse(gw.port(), chat_body("m", R"("stream":true)"));
    ASSERT_TRUE(s.complete);
  }
  // 80 requests over two workers: at most a couple of connections each.
  EXPECT_LE(sim_->stats().connections.load(), 4u);
  EXPECT_EQ(sim_->stats().requests.load(), 80u);
}

// The sim closes each connection right after its keep-alive answer. The pool's watch on the
// idle socket drops such a connection; one whose close it has not seen yet fails on its write
// or read and is asked again once on a fresh connection. Either way every request is answered and
// each reaches the sim once.
TEST_F(ProxyTest, PooledConnectionThePeerClosedIsRetriedOnAFreshOne) {
  GatewayUnderTest gw("upstreams:\n" + upstream_yaml("a", url(sim_->port()),
                                                     {{"m", "m;close_after_answer"}}));
  for (int i = 0; i < 20; ++i) {
    auto r = post_json(gw.port(), "/v1/chat/completions", chat_body("m"));
    ASSERT_EQ(r.status, 200) << r.body;
  }
  EXPECT_EQ(sim_->stats().requests.load(), 20u);
  EXPECT_EQ(sim_->stats().connections.load(), 20u);
}

TEST_F(ProxyTest, IdleUpstreamConnectionsAreEvicted) {
  GatewayUnderTest gw("upstreams:\n" + upstream_yaml("a", url(sim_->port()), {{"m", "m"}},
                                                     "    pool_idle_timeout_ms: 100\n"));
  ASSERT_EQ(post_json(gw.port(), "/v1/chat/completions", chat_body("m")).status, 200);
  EXPECT_EQ(sim_->stats().open_connections.load(), 1);  // kept alive in the pool
  // The once-a-second sweep closes it without any further traffic.
  EXPECT_TRUE(eventually([&] { return sim_->stats().open_connections.load() == 0; },
                         std::chrono::milliseconds(3000)));
}

}  // namespace
}  // namespace switchyard::test

// The gateway's own behaviour: limits, client errors, auth, admin endpoints, reload and drain.
#include "support/fixture.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <future>
#include <thread>

namespace switchyard::test {
namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

std::string config(unsigned short sim_port, const std::string& server = {},
                   const std::string& model = "m", const std::string& id = "m") {
  return fmt::format(R"(server:
  reload_poll_ms: 50
{}
upstreams:
  - name: sim
    base_url: http://127.0.0.1:{}/v1
    models:
      - name: {}
        id: "{}"
        price_usd_per_mtok: {{input: 1, output: 1}}
routes:
  auto:
    stages:
      - type: static
        models: [{}]
)",
                     server, sim_port, model, id, model);
}

void expect_openai_error(const HttpResponse& r, int status, const std::string& type) {
  EXPECT_EQ(r.status, status) << r.body;
  auto j = json::parse(r.body, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << r.body;
  ASSERT_TRUE(j.contains("error")) << r.body;
  EXPECT_EQ(j["error"]["type"], type) << r.body;
  EXPECT_TRUE(j["error"]["message"].is_string());
  EXPECT_TRUE(j["error"].contains("param"));
  EXPECT_TRUE(j["error"].contains("code"));
  EXPECT_FALSE(r.header("x-request-id").empty());
}

class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override { sim_ = start_sim(); }
  std::unique_ptr<SimServer> sim_;
};

TEST_F(ServerTest, RouteGoesThroughChain) {
  GatewayUnderTest gw(config(sim_->port()));
  auto r = post_json(gw.port(), "/v1/chat/completions", chat_body("auto"));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.header("x-switchyard-route"), "auto");
  EXPECT_EQ(r.header("x-switchyard-model"), "m");
}

TEST_F(ServerTest, BadJsonIs400) {
  GatewayUnderTest gw(config(sim_->port()));
  expect_openai_error(post_json(gw.port(), "/v1/chat/completions", "{not json"), 400,
                      "invalid_request_error");
  auto missing = post_json(gw.port(), "/v1/chat/completions", R"({"messages":[]})");
  expect_openai_error(missing, 400, "invalid_request_error");
  EXPECT_EQ(json::parse(missing.body)["error"]["param"], "model");
  auto no_messages = post_json(gw.port(), "/v1/chat/completions", R"({"model":"m"})");
  EXPECT_EQ(json::parse(no_messages.body)["error"]["param"], "messages");
  auto bad_stream = post_json(gw.port(), "/v1/chat/completions", chat_body("m", R"("stream":"yes")"));
  EXPECT_EQ(json::parse(bad_stream.body)["error"]["param"], "stream");
}

TEST_F(ServerTest, RequestLimitsMustBeNumbers) {
  GatewayUnderTest gw(config(sim_->port()));
  for (const char* header : {"x-switchyard-max-cost-usd", "x-switchyard-max-latency-ms"})
    for (const char* value : {"cheap", "-1", "1e-3x"}) {
      auto r = post_json(gw.port(), "/v1/chat/completions", chat_body("auto"), {{header, value}});
      expect_openai_error(r, 400, "invalid_request_error");
      EXPECT_NE(r.body.find(std::string(header) + " must be a number"), std::string::npos)
          << r.body;
    }
  // A limit the route's stages do not look at changes nothing.
  auto ok = post_json(gw.port(), "/v1/chat/completions", chat_body("auto"),
                      {{"x-switchyard-max-cost-usd", "0.5"}});
  EXPECT_EQ(ok.status, 200) << ok.body;
}

TEST_F(ServerTest, UnknownModelIs404ListingWhatExists) {
  GatewayUnderTest gw(config(sim_->port()));
  auto r = post_json(gw.port(), "/v1/chat/completions", chat_body("gpt-9"));
  expect_openai_error(r, 404, "invalid_request_error");
  auto msg = json::parse(r.body)["error"]["message"].get<std::string>();
  EXPECT_NE(msg.find("gpt-9"), std::string::npos);
  EXPECT_NE(msg.find("m, auto"), std::string::npos) << msg;
  expect_openai_error(http_request(gw.port(), "GET", "/v2/nothing"), 404, "invalid_request_error");
}

TEST_F(ServerTest, ModelsListsModelsAndRoutes) {
  GatewayUnderTest gw(config(sim_->port()));
  auto r = http_request(gw.port(), "GET", "/v1/models");
  ASSERT_EQ(r.status, 200);
  auto j = json::parse(r.body);
  EXPECT_EQ(j["object"], "list");
  std::vector<std::string> ids;
  for (const auto& m : j["data"]) ids.push_back(m["id"]);
  EXPECT_EQ(ids, (std::vector<std::string>{"m", "auto"}));
  auto one = http_request(gw.port(), "GET", "/v1/models/auto");
  ASSERT_EQ(one.status, 200);
  EXPECT_EQ(json::parse(one.body)["id"], "auto");
  expect_openai_error(http_request(gw.port(), "GET", "/v1/models/nope"), 404,
                      "invalid_request_error");
}

TEST_F(ServerTest, OversizedBodyIs413) {
  GatewayUnderTest gw(config(sim_->port(), "  max_body_bytes: 1000"));
  std::string big(5000, 'x');
  auto r = post_json(gw.port(), "/v1/chat/completions", chat_body("m", R"("pad":")" + big + "\""));
  expect_openai_error(r, 413, "invalid_request_error");
  EXPECT_NE(r.body.find("max_body_bytes"), std::string::npos);
}

// The go-ahead comes while the client waits with its body, and not when the body came anyway
// (RFC 9110 §10.1.1 lets a server leave it out then).
TEST_F(ServerTest, ExpectContinueIsHonoured) {
  GatewayUnderTest gw(config(sim_->port()));
  const auto body = chat_body("m");
  const auto head = "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                    "Expect: 100-continue\r\nContent-Length: " +
                    std::to_string(body.size()) + "\r\n\r\n";
  boost::asio::io_context io;
  boost::asio::ip::tcp::socket s(io);
  s.connect({boost::asio::ip::make_address("127.0.0.1"), gw.port()});
  boost::asio::write(s, boost::asio::buffer(head));
  std::string out(25, '\0');
  boost::asio::read(s, boost::asio::buffer(out));  // before any byte of the body
  EXPECT_EQ(out, "HTTP/1.1 100 Continue\r\n\r\n");
  boost::asio::write(s, boost::asio::buffer(body));
  boost::system::error_code ec;
  out.clear();
  boost::asio::read(s, boost::asio::dynamic_buffer(out), ec);
  EXPECT_EQ(out.rfind("HTTP/1.1 200 OK", 0), 0u) << out;

  const auto whole = raw_exchange(gw.port(), head + body, std::chrono::milliseconds(3000));
  EXPECT_EQ(whole.rfind("HTTP/1.1 200 OK", 0), 0u) << whole;
}

TEST_F(ServerTest, OversizedChunkedBodyIs413) {
  GatewayUnderTest gw(config(sim_->port(), "  max_body_bytes: 1000"));
  std::string chunk(3000, 'x');
  std::string req = "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: "
                    "chunked\r\n\r\n" +
                    fmt::format("{:x}\r\n{}\r\n0\r\n\r\n", chunk.size(), chunk);
  auto out = raw_exchange(gw.port(), req, std::chrono::milliseconds(2000));
  EXPECT_EQ(out.rfind("HTTP/1.1 413", 0), 0u) << out.substr(0, 200);
}

TEST_F(ServerTest, OversizedHeadersAre431) {
  GatewayUnderTest gw(config(sim_->port(), "  max_header_bytes: 2048"));
  auto r = post_json(gw.port(), "/v1/chat/completions", chat_body("m"),
                     {{"x-padding", std::string(4096, 'a')}});
  expect_openai_error(r, 431, "invalid_request_error");
}

TEST_F(ServerTest, SlowClientGets408AndIsDisconnected) {
  GatewayUnderTest gw(config(sim_->port(), "  header_timeout_ms: 200"));
  auto start = std::chrono::steady_clock::now();
  // Half a request line, then nothing: the header timeout must end it.
  auto out = raw_exchange(gw.port(), "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n",
                          std::chrono::milliseconds(3000));
  EXPECT_EQ(out.rfind("HTTP/1.1 408", 0), 0u) << out;
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(2000));
}

TEST_F(ServerTest, SlowBodyGets408) {
  GatewayUnderTest gw(config(sim_->port(), "  body_timeout_ms: 200"));
  auto out = raw_exchange(gw.port(),
                          "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: "
                          "100\r\n\r\n{\"model\":",
                          std::chrono::milliseconds(3000));
  EXPECT_EQ(out.rfind("HTTP/1.1 408", 0), 0u) << out;
}

// A body that is partly in with the head: the part is parsed at once and the rest read as it
// comes, for a Content-Length body and a chunked one.
TEST_F(ServerTest, ABodyThatArrivesInPartsIsReadWhole) {
  GatewayUnderTest gw(config(sim_->port()));
  const auto body = chat_body("m");
  const auto chunked = fmt::format("{:x}\r\n{}\r\n0\r\n\r\n", body.size(), body);
  for (const auto& [framing, payload] :
       {std::pair{fmt::format("Content-Length: {}", body.size()), body},
        std::pair{std::string("Transfer-Encoding: chunked"), chunked}}) {
    const auto request = fmt::format(
        "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        "Content-Type: application/json\r\n{}\r\n\r\n{}",
        framing, payload);
    const auto cut = request.find("\r\n\r\n") + 4 + payload.size() / 2;
    boost::asio::io_context io;
    boost::asio::ip::tcp::socket s(io);
    s.connect({boost::asio::ip::make_address("127.0.0.1"), gw.port()});
    boost::asio::write(s, boost::asio::buffer(request.substr(0, cut)));
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    boost::asio::write(s, boost::asio::buffer(request.substr(cut)));
    std::string out;
    boost::system::error_code ec;
    boost::asio::read(s, boost::asio::dynamic_buffer(out), ec);
    EXPECT_EQ(out.rfind("HTTP/1.1 200", 0), 0u) << framing << "\n" << out;
  }
}

// The body's timeout is for the whole body, not for each read: a client that sends a byte at a
// time, each well within the timeout, is still cut off when the body is not in by then.
TEST_F(ServerTest, ABodyThatTricklesIsCutOffAtItsDeadline) {
  GatewayUnderTest gw(config(sim_->port(), "  body_timeout_ms: 300"));
  boost::asio::io_context io;
  boost::asio::ip::tcp::socket s(io);
  s.connect({boost::asio::ip::make_address("127.0.0.1"), gw.port()});
  const auto start = std::chrono::steady_clock::now();
  boost::asio::write(s, boost::asio::buffer(std::string_view(
                            "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
                            "Content-Length: 100\r\n\r\n")));
  boost::system::error_code ec;
  // 2 s of a byte every 100 ms, until the gateway answers.
  for (int i = 0; i < 20 && !ec && s.available(ec) == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    boost::asio::write(s, boost::asio::buffer(std::string_view("{")), ec);
  }
  const auto answered = std::chrono::steady_clock::now() - start;
  std::string out;
  boost::asio::read(s, boost::asio::dynamic_buffer(out), ec);
  EXPECT_EQ(out.rfind("HTTP/1.1 408", 0), 0u) << out;
  EXPECT_LT(answered, std::chrono::milliseconds(1000));
}

// A body far longer than the first read, in parts: read into the request as it comes.
TEST_F(ServerTest, ALongBodyInPartsIsReadWhole) {
  GatewayUnderTest gw(config(sim_->port()));
  const auto body = chat_body("m", R"("user":")" + std::string(300 * 1024, 'u') + "\"");
  const auto request = fmt::format(
      "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
      "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{}",
      body.size(), body);
  boost::asio::io_context io;
  boost::asio::ip::tcp::socket s(io);
  s.connect({boost::asio::ip::make_address("127.0.0.1"), gw.port()});
  for (std::size_t at = 0; at < request.size(); at += 70 * 1024) {
    boost::asio::write(s, boost::asio::buffer(std::string_view(request).substr(at, 70 * 1024)));
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  std::string out;
  boost::system::error_code ec;
  boost::asio::read(s, boost::asio::dynamic_buffer(out), ec);
  EXPECT_EQ(out.rfind("HTTP/1.1 200", 0), 0u) << out.substr(0, 300);
}

TEST_F(ServerTest, IdleKeepAliveConnectionIsClosedQuietly) {
  GatewayUnderTest gw(config(sim_->port(), "  idle_timeout_ms: 200"));
  auto start = std::chrono::steady_clock::now();
  auto out = raw_exchange(gw.port(), "", std::chrono::milliseconds(3000));
  EXPECT_EQ(out, "");  // closed without a response
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(2000));
}

TEST_F(ServerTest, ConcurrencyLimitIs429WithRetryAfter) {
  GatewayUnderTest gw(config(sim_->port(), "  max_concurrent_requests: 1", "m", "m;delay_ms=600"));
  auto slow = std::async(std::launch::async, [&] {
    return post_json(gw.port(), "/v1/chat/completions", chat_body("m"));
  });
  ASSERT_TRUE(eventually([&] { return gw.gateway().state().in_flight.load() == 1; }));
  auto r = post_json(gw.port(), "/v1/chat/completions", chat_body("m"));
  expect_openai_error(r, 429, "rate_limit_error");
  EXPECT_EQ(r.header("retry-after"), "1");
  EXPECT_EQ(r.header("retry-after-ms"), "1000");
  EXPECT_EQ(slow.get().status, 200);
}

TEST_F(ServerTest, ClientKeysAreEnforcedWhenConfigured) {
  ::setenv("SWITCHYARD_TEST_CLIENT_KEY", "sk-test-123", 1);
  GatewayUnderTest gw(config(sim_->port(), "  api_keys: [\"${SWITCHYARD_TEST_CLIENT_KEY}\"]"));
  expect_openai_error(post_json(gw.port(), "/v1/chat/completions", chat_body("m")), 401,
                      "authentication_error");
  expect_openai_error(post_json(gw.port(), "/v1/chat/completions", chat_body("m"),
                                {{"authorization", "Bearer wrong"}}),
                      401, "authentication_error");
  auto ok = post_json(gw.port(), "/v1/chat/completions", chat_body("m"),
                      {{"authorization", "Bearer sk-test-123"}});
  EXPECT_EQ(ok.status, 200);
  auto lower = post_json(gw.port(), "/v1/chat/completions", chat_body("m"),
                         {{"authorization", "bearer sk-test-123"}});
  EXPECT_EQ(lower.status, 200);  // the scheme is case-insensitive
}

TEST_F(ServerTest, HealthReadyAndMetrics) {
  GatewayUnderTest gw(config(sim_->port()));
  EXPECT_EQ(http_request(gw.port(), "GET", "/healthz").status, 200);
  EXPECT_EQ(http_request(gw.port(), "GET", "/readyz").status, 200);
  ASSERT_EQ(post_json(gw.port(), "/v1/chat/completions", chat_body("auto")).status, 200);
  HttpResponse m;
  // Metrics are recorded just after the response is written: poll for them.
  ASSERT_TRUE(eventually([&] {
    m = http_request(gw.port(), "GET", "/metrics");
    return m.body.find("switchyard_requests_in_flight 0") != std::string::npos &&
           m.body.find(R"(code="200",model="m",route="auto"} 1)") != std::string::npos;
  }));
  ASSERT_EQ(m.status, 200);
  for (const char* needle :
       {R"(switchyard_requests_total{code="200",model="m",route="auto"} 1)",
        R"(switchyard_upstream_attempts_total{model="m",outcome="ok",upstream="sim"} 1)",
        "switchyard_cost_usd_total{model=\"m\",route=\"auto\",upstream=\"sim\"}", "switchyard_requests_in_flight 0",
        "switchyard_build_info{version=", "switchyard_config_reloads_total{result=\"success\"} 0",
        R"(gen_ai_client_token_usage_bucket{gen_ai_operation_name="chat",)"
        R"(gen_ai_provider_name="sim",gen_ai_request_model="auto",gen_ai_response_model="m",)"
        R"(gen_ai_token_type="output",le="16"} 1)",
        R"(gen_ai_client_operation_duration_seconds_count{gen_ai_operation_name="chat",)"
        R"(gen_ai_provider_name="sim",gen_ai_request_model="auto",gen_ai_response_model="m"} 1)",
        "# TYPE gen_ai_server_time_to_first_token_seconds histogram"})
    EXPECT_NE(m.body.find(needle), std::string::npos) << needle;
}

TEST_F(ServerTest, SeriesADashboardDividesByExistAtZeroBeforeTheFirstRequest) {
  GatewayUnderTest gw(config(sim_->port()));
  const auto text = http_request(gw.port(), "GET", "/metrics").body;
  for (const char* series :
       {R"(switchyard_requests_total{code="200",model="m",route="auto"})",
        R"(switchyard_requests_total{code="502",model="m",route="auto"})",
        R"(switchyard_requests_total{code="504",model="m",route="auto"})",
        R"(switchyard_requests_total{code="404",model="none",route="none"})",
        R"(switchyard_upstream_attempts_total{model="m",outcome="ok",upstream="sim"})",
        R"(switchyard_upstream_errors_total{reason="connect",upstream="sim"})",
        R"(switchyard_upstream_errors_total{reason="timeout_idle_stream",upstream="sim"})"})
    EXPECT_EQ(metric(text, series), 0) << series;
}

TEST_F(ServerTest, StreamThatFailsAfterItStartedIsCountedAsFailed) {
  GatewayUnderTest gw(config(sim_->port(), {}, "m", "m;tokens=10;cut_after=3"));
  auto s = read_sse(gw.port(), chat_body("m", R"("stream":true)"));
  EXPECT_EQ(s.status, 200);  // the header went out before the upstream broke off
  EXPECT_FALSE(s.events.empty());
  std::string text;
  ASSERT_TRUE(eventually([&] {
    text = http_request(gw.port(), "GET", "/metrics").body;
    return metric(text, R"(switchyard_requests_total{code="502",model="m",route="passthrough"})") ==
           1;
  })) << text;
  EXPECT_EQ(metric(text, R"(switchyard_requests_total{code="200",model="m",route="passthrough"})"),
            0);
  EXPECT_EQ(metric(text, R"(gen_ai_client_operation_duration_seconds_count{error_type="protocol",)"
                         R"(gen_ai_operation_name="chat",gen_ai_provider_name="sim",)"
                         R"(gen_ai_request_model="m",gen_ai_response_model="m"})"),
            1);
}

TEST_F(ServerTest, HotReloadSwapsConfig) {
  GatewayUnderTest gw(config(sim_->port()));
  EXPECT_EQ(post_json(gw.port(), "/v1/chat/completions", chat_body("new")).status, 404);
  gw.dir().write("switchyard.yaml", config(sim_->port(), {}, "new", "new"));
  ASSERT_TRUE(gw.gateway().reload());
  auto r = post_json(gw.port(), "/v1/chat/completions", chat_body("new"));
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(post_json(gw.port(), "/v1/chat/completions", chat_body("m")).status, 404);
  EXPECT_NE(http_request(gw.port(), "GET", "/metrics")
                .body.find(R"(switchyard_config_reloads_total{result="success"} 1)"),
            std::string::npos);
}

TEST_F(ServerTest, BadReloadKeepsRunningConfig) {
  GatewayUnderTest gw(config(sim_->port()));
  gw.dir().write("switchyard.yaml", config(sim_->port()) + "bogus_key: 1\n");
  EXPECT_FALSE(gw.gateway().reload());
  EXPECT_EQ(post_json(gw.port(), "/v1/chat/completions", chat_body("m")).status, 200);
  EXPECT_NE(http_request(gw.port(), "GET", "/metrics")
                .body.find(R"(switchyard_config_reloads_total{result="failure"} 1)"),
            std::string::npos);
}

TEST_F(ServerTest, InFlightRequestFinishesOnItsOwnSnapshot) {
  GatewayUnderTest gw(config(sim_->port(), {}, "m", "m;tokens=5;token_interval_ms=100"));
  auto stream = std::async(std::launch::async, [&] {
    return read_sse(gw.port(), chat_body("m", R"("stream":true)"));
  });
  ASSERT_TRUE(eventually([&] { return gw.gateway().state().in_flight.load() == 1; }));
  gw.dir().write("switchyard.yaml", config(sim_->port(), {}, "other", "other"));
  ASSERT_TRUE(gw.gateway().reload());
  auto s = stream.get();
  EXPECT_TRUE(s.complete);
  EXPECT_EQ(s.events.back(), "[DONE]");
}

// Kubernetes mounts a ConfigMap as symlinks into a `..data` directory that it swaps atomically.
TEST_F(ServerTest, FileWatchFollowsConfigMapSymlinkSwap) {
  TempDir dir;
  fs::create_directories(dir.path() / "v1");
  dir.write("v1/switchyard.yaml", config(sim_->port()));
  fs::create_directory_symlink("v1", dir.path() / "..data");
  fs::create_symlink("..data/switchyard.yaml", dir.path() / "switchyard.yaml");
  GatewayOptions o;
  o.config_path = (dir.path() / "switchyard.yaml").string();
  o.listen_override = "127.0.0.1:0";
  o.workers = 1;
  std::string error;
  auto gw = Gateway::start(o, error);
  ASSERT_TRUE(gw) << error;

  fs::create_directories(dir.path() / "v2");
  dir.write("v2/switchyard.yaml", config(sim_->port(), {}, "swapped", "swapped"));
  fs::create_directory_symlink("v2", dir.path() / "..data_tmp");
  fs::rename(dir.path() / "..data_tmp", dir.path() / "..data");  // the atomic swap

  gw->poll_config_file();
  EXPECT_EQ(post_json(gw->port(), "/v1/chat/completions", chat_body("swapped")).status, 200);
}

TEST_F(ServerTest, DrainFinishesStreamInFlightThenStops) {
  GatewayUnderTest gw(config(sim_->port(), {}, "m", "m;tokens=8;token_interval_ms=100"));
  auto port = gw.port();
  auto stream = std::async(std::launch::async, [&] {
    return read_sse(port, chat_body("m", R"("stream":true)"));
  });
  ASSERT_TRUE(eventually([&] { return gw.gateway().state().in_flight.load() == 1; }));
  auto drained = std::async(std::launch::async, [&] { return gw.gateway().drain(); });
  ASSERT_TRUE(eventually([&] { return gw.gateway().state().draining.load(); }));
  auto s = stream.get();
  EXPECT_TRUE(s.complete);
  ASSERT_FALSE(s.events.empty());
  EXPECT_EQ(s.events.back(), "[DONE]");
  EXPECT_EQ(drained.get(), 0u);  // nothing was cut off
  EXPECT_EQ(http_request(port, "GET", "/healthz").status, 0);  // no longer accepting
}

TEST_F(ServerTest, ReadyzIs503WhileDraining) {
  GatewayUnderTest gw(config(sim_->port(), {}, "m", "m;tokens=4;token_interval_ms=150"));
  // Keep one keep-alive connection open so /readyz can still be asked during the drain.
  auto stream = std::async(std::launch::async, [&] {
    return read_sse(gw.port(), chat_body("m", R"("stream":true)"));
  });
  ASSERT_TRUE(eventually([&] { return gw.gateway().state().in_flight.load() == 1; }));
  gw.gateway().state().draining.store(true);
  auto r = http_request(gw.port(), "GET", "/readyz");
  expect_openai_error(r, 503, "service_unavailable_error");
  EXPECT_FALSE(r.header("retry-after").empty());
  stream.get();
}

TEST_F(ServerTest, AdminListenerServesProbesAndStaysUpThroughTheDrain) {
  GatewayUnderTest gw(config(sim_->port(), "  admin_listen: \"127.0.0.1:0\"", "m",
                             "m;tokens=20;token_interval_ms=100"));  // streams for 2 s
  const auto admin = gw.gateway().admin_port();
  ASSERT_NE(admin, 0);
  ASSERT_NE(admin, gw.port());
  EXPECT_EQ(http_request(admin, "GET", "/healthz").status, 200);
  EXPECT_EQ(http_request(admin, "GET", "/readyz").status, 200);
  EXPECT_GE(metric(http_request(admin, "GET", "/metrics").body, "switchyard_connections"), 0);
  // The API is not on the admin listener...
  expect_openai_error(post_json(admin, "/v1/chat/completions", chat_body("m")), 404,
                      "invalid_request_error");
  // ...and the API listener still answers probes too.
  EXPECT_EQ(http_request(gw.port(), "GET", "/healthz").status, 200);

  auto stream = std::async(std::launch::async, [&] {
    return read_sse(gw.port(), chat_body("m", R"("stream":true)"));
  });
  ASSERT_TRUE(eventually([&] { return gw.gateway().state().in_flight.load() == 1; }));
  auto drained = std::async(std::launch::async, [&] { return gw.gateway().drain(); });
  ASSERT_TRUE(eventually([&] { return gw.gateway().state().draining.load(); }));
  // Draining: not ready, still alive, and no new API connections.
  expect_openai_error(http_request(admin, "GET", "/readyz"), 503, "service_unavailable_error");
  EXPECT_EQ(http_request(admin, "GET", "/healthz").status, 200);
  EXPECT_TRUE(eventually([&] { return http_request(gw.port(), "GET", "/healthz").status == 0; }));
  EXPECT_TRUE(stream.get().complete);
  EXPECT_EQ(drained.get(), 0u);
}

TEST_F(ServerTest, AdminListenMustBeHostPort) {
  TempDir dir;
  auto path = dir.write("bad.yaml", config(sim_->port(), "  admin_listen: \"9090\""));
  GatewayOptions o;
  o.config_path = path;
  std::string error;
  EXPECT_EQ(Gateway::start(o, error), nullptr);
  EXPECT_NE(error.find("server.admin_listen"), std::string::npos) << error;
}

}  // namespace
}  // namespace switchyard::test

// Issue 6's probes, replayed byte for byte: hostile clients (deep JSON, request smuggling, HEAD,
// Host) and misbehaving upstreams (hop-by-hop headers, 101, 401, non-JSON 200s, garbage).
#include "support/fixture.hpp"
#include "support/scripted_upstream.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <string_view>
#include <thread>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

namespace switchyard::test {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

std::string upstream(const std::string& name, unsigned short port, const std::string& model,
                     const std::string& extra = {}) {
  return fmt::format(
      "  - name: {}\n    base_url: http://127.0.0.1:{}/v1\n{}    models:\n      - name: {}\n",
      name, port, extra, model);
}

std::string config_for(const std::string& upstreams, const std::string& server = {}) {
  return (server.empty() ? "" : "server:\n" + server) + "upstreams:\n" + upstreams;
}

// Counts the HTTP responses (status lines) in raw bytes read from a connection.
int responses_in(const std::string& raw) {
  int n = raw.starts_with("HTTP/1.") ? 1 : 0;
  for (auto at = raw.find("\nHTTP/1."); at != std::string::npos; at = raw.find("\nHTTP/1.", at + 1))
    ++n;
  return n;
}

std::string post_head(const std::string& extra_headers) {
  return "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" +
         extra_headers + "\r\n";
}

class HostileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    sim_ = start_sim();
    gw_ = std::make_unique<GatewayUnderTest>(config_for(upstream("sim", sim_->port(), "sim-nano")));
  }
  void expect_alive() {
    EXPECT_EQ(http_request(gw_->port(), "GET", "/healthz").status, 200);
  }
  std::unique_ptr<SimServer> sim_;
  std::unique_ptr<GatewayUnderTest> gw_;
};

TEST_F(HostileTest, DeeplyNestedJsonIs400AndTheGatewayLives) {
  const std::size_t n = 70000;
  const std::string body = R"({"model":"sim-nano","messages":[)" + std::string(n, '[') +
                           std::string(n, ']') + "]}";
  auto r = post_json(gw_->port(), "/v1/chat/completions", body);
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_NE(r.body.find("nested more than"), std::string::npos) << r.body;
  expect_alive();
}

TEST_F(HostileTest, TransferEncodingOtherThanChunkedIsRejectedNotSmuggled) {
  const std::string smuggled =
      "GET /v1/models HTTP/1.1\r\nHost: x\r\n\r\n";  // would be a second request
  for (const char* te : {"xchunked", "chunked, identity", "identity", "gzip, chunked, x"}) {
    auto raw = raw_exchange(gw_->port(),
                            post_head(fmt::format("Transfer-Encoding: {}\r\n", te)) + smuggled,
                            1000ms);
    EXPECT_TRUE(raw.starts_with("HTTP/1.1 400")) << te << ": " << raw;
    EXPECT_EQ(responses_in(raw), 1) << te << ": the body was served as a request: " << raw;
  }
  auto metrics = http_request(gw_->port(), "GET", "/metrics").body;
  EXPECT_NE(metrics.find(R"(switchyard_client_protocol_errors_total{kind="transfer_encoding"} 4)"),
            std::string::npos)
      << metrics;
  // Both framings at once, and two Transfer-Encoding lines.
  for (const char* h : {"Transfer-Encoding: chunked\r\nContent-Length: 4\r\n",
                        "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n"}) {
    auto raw = raw_exchange(gw_->port(), post_head(h) + "0\r\n\r\n" + smuggled, 1000ms);
    EXPECT_TRUE(raw.starts_with("HTTP/1.1 400")) << h << raw;
    EXPECT_EQ(responses_in(raw), 1) << raw;
  }
  expect_alive();
}

TEST_F(HostileTest, MalformedChunkSizeIsA400) {
  auto raw = raw_exchange(gw_->port(), post_head("Transfer-Encoding: chunked\r\n") + "zz\r\n{}\r\n",
                          1000ms);
  EXPECT_TRUE(raw.starts_with("HTTP/1.1 400")) << raw;
  EXPECT_NE(raw.find("Malformed chunked request body"), std::string::npos) << raw;
  // A well-formed chunked body still works.
  const std::string body = chat_body("sim-nano");
  auto ok = raw_exchange(gw_->port(),
                         post_head("Transfer-Encoding: chunked\r\nConnection: close\r\n") +
                             fmt::format("{:x}\r\n{}\r\n0\r\n\r\n", body.size(), body),
                         2000ms);
  EXPECT_TRUE(ok.starts_with("HTTP/1.1 200")) << ok;
}

TEST_F(HostileTest, HeadGetsHeadersOnlyAndKeepsTheConnectionInSync) {
  // Three requests on one connection: if a HEAD answer carried a body, the next status line
  // would be read as part of it.
  auto raw = raw_exchange(gw_->port(),
                          "HEAD /nope HTTP/1.1\r\nHost: x\r\n\r\n"
                          "HEAD /v1/chat/completions HTTP/1.1\r\nHost: x\r\n\r\n"
                          "HEAD /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                          2000ms);
  ASSERT_EQ(responses_in(raw), 3) << raw;
  auto first = raw.find("HTTP/1.1 404");
  auto second = raw.find("HTTP/1.1 405");
  auto third = raw.find("HTTP/1.1 200");
  ASSERT_TRUE(first == 0 && second != std::string::npos && third != std::string::npos) << raw;
  // Each answer ends at its blank line: no JSON anywhere.
  EXPECT_EQ(raw.find('{'), std::string::npos) << raw;
  EXPECT_NE(raw.find("allow: POST"), std::string::npos) << raw;
  EXPECT_NE(raw.substr(third).find("Content-Length: 15"), std::string::npos) << raw;
  EXPECT_EQ(http_request(gw_->port(), "HEAD", "/readyz").status, 200);
}

TEST_F(HostileTest, QueryStringsAndMethodsOnAdminPaths) {
  EXPECT_EQ(http_request(gw_->port(), "GET", "/healthz?probe=1").status, 200);
  EXPECT_EQ(http_request(gw_->port(), "GET", "/metrics?x").status, 200);
  EXPECT_EQ(http_request(gw_->port(), "GET", "/v1/models?limit=1").status, 200);
  auto post = http_request(gw_->port(), "POST", "/healthz", "{}");
  EXPECT_EQ(post.status, 405);
  EXPECT_EQ(post.header("allow"), "GET, HEAD");
  auto get = http_request(gw_->port(), "GET", "/v1/chat/completions");
  EXPECT_EQ(get.status, 405);
  EXPECT_EQ(get.header("allow"), "POST");
}

TEST_F(HostileTest, HostMustBeThereOnceOnHttp11) {
  auto none = raw_exchange(gw_->port(), "GET /healthz HTTP/1.1\r\n\r\n", 1000ms);
  EXPECT_TRUE(none.starts_with("HTTP/1.1 400")) << none;
  auto twice = raw_exchange(gw_->port(), "GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
                            1000ms);
  EXPECT_TRUE(twice.starts_with("HTTP/1.1 400")) << twice;
  auto old = raw_exchange(gw_->port(), "GET /healthz HTTP/1.0\r\n\r\n", 1000ms);
  EXPECT_TRUE(old.starts_with("HTTP/1.0 200")) << old;
}

TEST(HostileUpstream, OnlyAllowlistedEndToEndHeadersReachTheClient) {
  const std::string answer = R"({"id":"x","object":"chat.completion","choices":[]})";
  ScriptedUpstream up(fmt::format(
      "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n"
      "Connection: keep-alive, X-Internal-Token, x-ratelimit-reset-requests\r\n"
      "X-Internal-Token: s3cret\r\nProxy-Connection: keep-alive\r\n"
      "WWW-Authenticate: Bearer realm=\"upstream\"\r\nStrict-Transport-Security: max-age=9\r\n"
      "Access-Control-Allow-Origin: *\r\nAlt-Svc: h3=\":443\"\r\nLocation: http://10.0.0.1/\r\n"
      "Set-Cookie: session=abc\r\nx-ratelimit-remaining-requests: 42\r\n"
      "x-ratelimit-reset-requests: 1s\r\nopenai-processing-ms: 12\r\n\r\n{}",
      answer.size(), answer));
  GatewayUnderTest gw(config_for(upstream("up", up.port(), "m")));
  auto r = post_json(gw.port(), "/v1/chat/completions", chat_body("m"));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.header("x-ratelimit-remaining-requests"), "42");
  EXPECT_EQ(r.header("openai-processing-ms"), "12");
  for (const char* leaked :
       {"x-internal-token", "proxy-connection", "www-authenticate", "strict-transport-security",
        "access-control-allow-origin", "alt-svc", "location", "set-cookie",
        "x-ratelimit-reset-requests"})
    EXPECT_EQ(r.header(leaked), "") << leaked << " was relayed";
}

TEST(HostileUpstream, AChunkedAnswersTrailersAndTheUpstreamsRequestIdAreNotRelayed) {
  const std::string answer = R"({"id":"x","object":"chat.completion","choices":[]})";
  ScriptedUpstream up(fmt::format(
      "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
      "x-request-id: upstream-7\r\nx-ratelimit-remaining-tokens: 9\r\n\r\n"
      "{:x}\r\n{}\r\n0\r\nx-ratelimit-remaining-requests: 1\r\nSet-Cookie: a=b\r\n\r\n",
      answer.size(), answer));
  GatewayUnderTest gw(config_for(upstream("up", up.port(), "m")));
  auto r = post_json(gw.port(), "/v1/chat/completions", chat_body("m"), {{"x-request-id", "c-1"}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_NE(r.body.find(R"("id":"x")"), std::string::npos) << r.body;  // the chunks, whole
  EXPECT_EQ(r.header("x-ratelimit-remaining-tokens"), "9");
  EXPECT_EQ(r.header("x-ratelimit-remaining-requests"), "");  // a trailer
  EXPECT_EQ(r.header("set-cookie"), "");
  EXPECT_EQ(r.header("x-request-id"), "c-1");
  EXPECT_EQ(r.header("x-upstream-request-id"), "upstream-7");
}

TEST(HostileUpstream, ForwardsTheClientsBytesAndOnlyTheApisHeaders) {
  const std::string answer = R"({"object":"chat.completion","choices":[]})";
  ScriptedUpstream up(fmt::format(
      "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{}",
      answer.size(), answer));
  GatewayUnderTest gw(config_for(upstream("up", up.port(), "m")));
  const std::string body =
      R"({"seed": 123456789012345678901234567890, "z": 1, "a": 2, "model": "m",)"
      R"( "messages": [{"role": "user", "content": "hi"}]})";
  auto r = post_json(gw.port(), "/v1/chat/completions", body,
                     {{"OpenAI-Beta", "assistants=v2"}, {"X-Secret-Client-Header", "no"},
                      {"Authorization", "Bearer client-key"}});
  ASSERT_EQ(r.status, 200) << r.body;
  auto sent = up.last_request();
  EXPECT_TRUE(sent.ends_with("\r\n\r\n" + body)) << sent;  // model "m" has id "m": unchanged
  EXPECT_NE(sent.find("OpenAI-Beta: assistants=v2"), std::string::npos) << sent;
  EXPECT_EQ(sent.find("X-Secret-Client-Header"), std::string::npos) << sent;
  EXPECT_EQ(sent.find("client-key"), std::string::npos) << sent;
  auto dup = post_json(gw.port(), "/v1/chat/completions",
                       R"({"model":"m","model":"other","messages":[{"role":"user"}]})");
  EXPECT_EQ(dup.status, 400) << dup.body;
}

TEST(HostileUpstream, NoProtocolSwitchOnAn101) {
  ScriptedUpstream up(
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n");
  GatewayUnderTest gw(config_for(upstream("up", up.port(), "m")));
  auto r = post_json(gw.port(), "/v1/chat/completions", chat_body("m"));
  EXPECT_EQ(r.status, 502) << r.body;
  EXPECT_EQ(r.header("upgrade"), "");
  EXPECT_EQ(json::parse(r.body)["error"]["code"], "protocol") << r.body;
}

TEST(HostileUpstream, TheUpstreamsAuthFailureIsA502AndFallsBack) {
  ScriptedUpstream refusing(
      "HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\nContent-Length: 2\r\n"
      "WWW-Authenticate: Bearer\r\n\r\n{}");
  auto sim = start_sim();
  {
    GatewayUnderTest alone(config_for(upstream("refusing", refusing.port(), "sim-nano")));
    auto r = post_json(alone.port(), "/v1/chat/completions", chat_body("sim-nano"));
    EXPECT_EQ(r.status, 502) << r.body;
    EXPECT_EQ(json::parse(r.body)["error"]["code"], "upstream_auth") << r.body;
    EXPECT_NE(r.body.find("rejected the gateway's credentials"), std::string::npos) << r.body;
    auto metrics = http_request(alone.port(), "GET", "/metrics").body;
    EXPECT_NE(metrics.find(R"(switchyard_upstream_errors_total{reason="upstream_auth",)"
                           R"(upstream="refusing"} 1)"),
              std::string::npos)
        << metrics;
  }
  GatewayUnderTest both(config_for(upstream("refusing", refusing.port(), "sim-nano") +
                                   upstream("sim", sim->port(), "sim-nano")));
  auto r = post_json(both.port(), "/v1/chat/completions", chat_body("sim-nano"));
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.header("x-switchyard-upstream"), "sim");
  EXPECT_EQ(r.header("x-switchyard-attempts"), "2");
}

TEST(HostileUpstream, A200ThatIsNotJsonIsA502WithoutAddresses) {
  ScriptedUpstream broken(
      "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 9\r\n\r\n<html>oops");
  ScriptedUpstream garbage("SSH-2.0-OpenSSH_9.2\r\n\r\n");
  for (auto* up : {&broken, &garbage}) {
    GatewayUnderTest gw(config_for(upstream("up", up->port(), "m")));
    auto r = post_json(gw.port(), "/v1/chat/completions", chat_body("m"));
    EXPECT_EQ(r.status, 502) << r.body;
    EXPECT_EQ(json::parse(r.body)["error"]["code"], "protocol") << r.body;
    EXPECT_EQ(r.body.find("127.0.0.1"), std::string::npos) << r.body;
    EXPECT_EQ(r.body.find(std::to_string(up->port())), std::string::npos) << r.body;
  }
}

// An event stream's parts, as an upstream might write them: chunked, or ended by the close.
struct Stream {
  static std::string event(const std::string& text) {
    return "data: " + json{{"choices", {{{"index", 0}, {"delta", {{"content", text}}}}}}}.dump() +
           "\n\n";
  }
  static std::string chunk(const std::string& bytes) {
    return fmt::format("{:x}\r\n{}\r\n", bytes.size(), bytes);
  }
  // `bytes` cut at each of `at` (ascending offsets).
  static std::vector<std::string> cut(const std::string& bytes,
                                      const std::vector<std::size_t>& at) {
    std::vector<std::string> parts;
    std::size_t from = 0;
    for (std::size_t to : at) parts.push_back(bytes.substr(from, to - from)), from = to;
    parts.push_back(bytes.substr(from));
    return parts;
  }
  inline static const std::string head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n";
  inline static const std::string one = event("one"), two = event("two"),
                                  done = "data: [DONE]\n\n";
  inline static const std::string chunked = head + "Transfer-Encoding: chunked\r\n\r\n" +
                                            chunk(one) + chunk(two) + chunk(done) + "0\r\n\r\n";
};

// An event stream whose framing is cut where a reader must wait for the rest: inside a chunk's
// size line, inside an event, before a chunk's closing CRLF and between its CR and LF, inside
// the last chunk; and a stream that ends with the connection, cut inside an event. Every event
// arrives whole, in order, and the client's stream ends cleanly.
TEST(HostileUpstream, EventsCutAnywhereInTheirFramingArriveWhole) {
  const std::string& chunked = Stream::chunked;
  const std::size_t body = chunked.find("\r\n\r\n") + 4;
  const std::size_t one_ends = chunked.find(Stream::one) + Stream::one.size();
  const std::string closed = Stream::head + "Connection: close\r\n\r\n" + Stream::one +
                             Stream::two + Stream::done;
  for (const auto& parts :
       {Stream::cut(chunked, {body + 1, body + 20, one_ends, one_ends + 1, chunked.size() - 3}),
        Stream::cut(closed, {closed.find(Stream::two) + 10})}) {
    ScriptedUpstream up(parts, 30ms);
    GatewayUnderTest gw(config_for(upstream("up", up.port(), "m")));
    auto s = read_sse(gw.port(), chat_body("m", R"("stream":true)"));
    ASSERT_EQ(s.status, 200) << s.error_body;
    EXPECT_TRUE(s.complete);
    ASSERT_EQ(s.events.size(), 3u) << parts.front();
    EXPECT_EQ(json::parse(s.events[0])["choices"][0]["delta"]["content"], "one");
    EXPECT_EQ(json::parse(s.events[1])["choices"][0]["delta"]["content"], "two");
    EXPECT_EQ(s.events[2], "[DONE]");
  }
}

// What a read completes goes to the client at once, though it ends inside the next chunk's size
// line: the next event is a while coming.
TEST(HostileUpstream, AnEventReachesTheClientBeforeTheNextArrives) {
  const std::string& chunked = Stream::chunked;
  const std::size_t two_starts = chunked.find(Stream::chunk(Stream::two));
  ScriptedUpstream up(Stream::cut(chunked, {two_starts + 1}), 1000ms);
  GatewayUnderTest gw(config_for(upstream("up", up.port(), "m")));
  const auto start = std::chrono::steady_clock::now();
  auto s = read_sse(gw.port(), chat_body("m", R"("stream":true)"), 1);
  ASSERT_EQ(s.events.size(), 1u);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 700ms);
}

// A head that says there is no body, then bytes anyway: the answer is the head's, and the stray
// bytes are not parsed (a parser that is done asserts, or fails as stale).
TEST(HostileUpstream, BytesAfterABodylessHeadAreLeftAlone) {
  ScriptedUpstream up(
      "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 7\r\nContent-Length: 0\r\n\r\nX");
  GatewayUnderTest gw(config_for(upstream("up", up.port(), "m")));
  auto s = read_sse(gw.port(), chat_body("m", R"("stream":true)"));
  EXPECT_EQ(s.status, 429) << s.error_body;
  EXPECT_EQ(s.headers["retry-after"], "7");
  EXPECT_EQ(json::parse(s.error_body)["error"]["code"], "upstream_rate_limited") << s.error_body;
}

// An upstream that answers, keeps the connection open, a while later sends a second answer
// nobody asked for, and closes only a while after that. The pooled connection's watch sees the
// stray bytes and drops it: the next request goes out on a fresh connection and gets its own
// answer, not the stray one. One worker, so that every request after the first finds the
// connection the one before it left in the pool, between the stray answer and the close.
TEST(HostileUpstream, BytesSentUnaskedToAnIdleConnectionAreNotTheNextAnswer) {
  const auto answer = [](std::string_view content) {
    const std::string body = R"({"id":"c","object":"chat.completion","model":"m","choices":[)"
                             R"({"index":0,"message":{"role":"assistant","content":")" +
                             std::string(content) + R"("},"finish_reason":"stop"}]})";
    return "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
           std::to_string(body.size()) + "\r\n\r\n" + body;
  };
  ScriptedUpstream up({answer("asked"), answer("stray"), ""}, 300ms);
  GatewayUnderTest gw(config_for(upstream("up", up.port(), "m")), 1);
  for (int i = 0; i < 3; ++i) {
    auto r = post_json(gw.port(), "/v1/chat/completions", chat_body("m"));
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_NE(r.body.find("asked"), std::string::npos) << r.body;
    std::this_thread::sleep_for(450ms);  // the stray answer came; the close has not yet
  }
  EXPECT_EQ(up.requests(), 3);
}

// A connected socket that sends nothing: an idle keep-alive connection as the gateway sees it.
int idle_connection(unsigned short port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

bool closed_by_peer(int fd) {
  char c;
  timeval tv{2, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return ::recv(fd, &c, 1, 0) == 0;
}

bool still_open(int fd) {
  char c;
  return ::recv(fd, &c, 1, MSG_DONTWAIT) < 0 && errno == EAGAIN;
}

TEST(HostileClient, IdleConnectionsAreShedOldestFirstAtMaxConnections) {
  auto sim = start_sim();
  // One worker: connections are accepted, and reach their idle wait, in the order they connect.
  GatewayUnderTest gw(config_for(upstream("sim", sim->port(), "m"), "  max_connections: 4\n"), 1);
  std::vector<int> fds;
  fds.reserve(4);
  for (int i = 0; i < 4; ++i) fds.push_back(idle_connection(gw.port()));
  // A fifth connection (a health check) is served; the oldest idle connection made room.
  EXPECT_EQ(http_request(gw.port(), "GET", "/healthz").status, 200);
  EXPECT_TRUE(closed_by_peer(fds[0]));
  EXPECT_TRUE(still_open(fds[1]));
  fds.push_back(idle_connection(gw.port()));  // back at the cap
  EXPECT_EQ(http_request(gw.port(), "GET", "/healthz").status, 200);
  EXPECT_TRUE(closed_by_peer(fds[1]));
  EXPECT_TRUE(still_open(fds[2]));
  // 2, or 3 if the last health check's connection had not yet closed when this one came.
  auto metrics = http_request(gw.port(), "GET", "/metrics").body;
  const std::string shed = R"(switchyard_connections_closed_total{reason="shed_idle"} )";
  auto at = metrics.find(shed);
  ASSERT_NE(at, std::string::npos) << metrics;
  EXPECT_GE(std::stoi(metrics.substr(at + shed.size())), 2) << metrics;
  for (int fd : fds) ::close(fd);
}

TEST(HostileUpstream, AnOversizedAnswerHasItsOwnReason) {
  const std::string big = R"({"object":"chat.completion","pad":")" + std::string(4096, 'x') + "\"}";
  ScriptedUpstream up(fmt::format(
      "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{}",
      big.size(), big));
  GatewayUnderTest gw(config_for(upstream("up", up.port(), "m", "    max_response_bytes: 1024\n")));
  auto r = post_json(gw.port(), "/v1/chat/completions", chat_body("m"));
  EXPECT_EQ(r.status, 502) << r.body;
  EXPECT_EQ(json::parse(r.body)["error"]["code"], "response_too_large") << r.body;
}

// Known from the head alone: the gateway does not wait for a body it would refuse.
TEST(HostileUpstream, AnAnswerDeclaredTooLongIsRefusedAtItsHead) {
  ScriptedUpstream up({"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                       "Content-Length: 1000000\r\n\r\n",
                       "{"},
                      std::chrono::milliseconds(2000));
  GatewayUnderTest gw(config_for(upstream("up", up.port(), "m", "    max_response_bytes: 1024\n")));
  const auto start = std::chrono::steady_clock::now();
  auto r = post_json(gw.port(), "/v1/chat/completions", chat_body("m"));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(1000));
  EXPECT_EQ(r.status, 502) << r.body;
  EXPECT_EQ(json::parse(r.body)["error"]["code"], "response_too_large") << r.body;
}

TEST(HostileUpstream, ConfiguredHeadersAreRelayedToo) {
  const std::string answer = R"({"object":"chat.completion","choices":[]})";
  ScriptedUpstream up(fmt::format(
      "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n"
      "x-acme-region: eu\r\nx-acme-cost: 3\r\nx-other: no\r\n\r\n{}",
      answer.size(), answer));
  GatewayUnderTest gw(
      config_for(upstream("up", up.port(), "m", "    relay_headers: [x-acme-*]\n")));
  auto r = post_json(gw.port(), "/v1/chat/completions", chat_body("m"));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.header("x-acme-region"), "eu");
  EXPECT_EQ(r.header("x-acme-cost"), "3");
  EXPECT_EQ(r.header("x-other"), "");
}

}  // namespace
}  // namespace switchyard::test

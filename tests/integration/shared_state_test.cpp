// Replicas share state through a real redis-server (Debian's), started here on a free loopback
// port and stopped by its PID: two gateways enforce one rate limit and one budget together, a
// breaker one opens keeps the other's traffic off that upstream, and an answer one caches is a
// hit on the other; killing Redis under load fails no request, and restarting it restores the
// sharing.
#include "support/fixture.hpp"

#include <fmt/format.h>

#include <csignal>
#include <thread>

#include <spawn.h>
#include <sys/wait.h>

extern char** environ;

namespace switchyard::test {
namespace {

using namespace std::chrono_literals;

// redis-server on 127.0.0.1:port, in memory only; stopped (SIGKILL, by PID) by stop() or the
// destructor.
class RedisServer {
 public:
  explicit RedisServer(unsigned short port) : port_(port) { start(); }
  ~RedisServer() { stop(); }
  void start() {
    const std::string port = std::to_string(port_);
    std::vector<std::string> args{"redis-server", "--port",     port,      "--bind",
                                  "127.0.0.1",    "--save",     "",        "--appendonly",
                                  "no",           "--logfile",  "/dev/null"};
    std::vector<char*> argv;
    argv.reserve(args.size() + 1);
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    ASSERT_EQ(::posix_spawnp(&pid_, "redis-server", nullptr, nullptr, argv.data(), environ), 0)
        << "redis-server is not installed (scripts/install-deps.sh installs it)";
    ASSERT_TRUE(eventually([&] { return raw_exchange(port_, "PING\r\n", 100ms).find("+PONG") == 0; }))
        << "redis-server did not come up on port " << port_;
  }
  void stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

 private:
  unsigned short port_;
  pid_t pid_ = -1;
};

class SharedState : public ::testing::Test {
 protected:
  void SetUp() override {
    std::signal(SIGPIPE, SIG_IGN);  // hiredis writing to a killed Redis, as main() does
    ::setenv("SY_SHARED_A", "sk-a", 1);
    ::setenv("SY_SHARED_B", "sk-b", 1);
    ::setenv("SY_SHARED_C", "sk-c", 1);
    sim_ = start_sim();
    redis_port_ = closed_port();
    redis_ = std::make_unique<RedisServer>(redis_port_);
    const std::string yaml = fmt::format(R"(
upstreams:
  - name: dead
    base_url: http://127.0.0.1:{}/v1
    models: [{{name: f}}]
  - name: sim
    base_url: http://127.0.0.1:{}/v1
    models:
      - {{name: m, price_usd_per_mtok: {{input: 1000, output: 1000}}}}
      - {{name: f}}
routes:
  cached:
    stages:
      - {{type: cache}}
      - {{type: static, models: [m]}}
clients:
  keys:
    - {{name: rated, key: "${{SY_SHARED_A}}", requests_per_minute: 10}}
    - {{name: spender, key: "${{SY_SHARED_B}}", budget_usd_per_day: 0.03}}
    - {{name: busy, key: "${{SY_SHARED_C}}", requests_per_minute: 100000}}
redis: {{host: 127.0.0.1, port: {}, timeout_ms: 1000, sync_ms: 50, key_prefix: "t{}"}}
)",
                                         closed_port(), sim_->port(), redis_port_, redis_port_);
    yaml_ = yaml;
    a_ = std::make_unique<GatewayUnderTest>(yaml);
    b_ = std::make_unique<GatewayUnderTest>(yaml);
  }

  static int ask(GatewayUnderTest& gw, const std::string& key) {
    return post_json(gw.port(), "/v1/chat/completions", chat_body("m"),
                     {{"authorization", "Bearer " + key}})
        .status;
  }
  static double store_up(GatewayUnderTest& gw) {
    return metric(http_request(gw.port(), "GET", "/metrics").body, "switchyard_shared_store_up");
  }
  // Several exchanges of both gateways: what each admitted is in the other's counts.
  static void let_them_sync() { std::this_thread::sleep_for(500ms); }

  std::unique_ptr<SimServer> sim_;
  unsigned short redis_port_ = 0;
  std::unique_ptr<RedisServer> redis_;
  std::string yaml_;
  std::unique_ptr<GatewayUnderTest> a_, b_;
};

TEST_F(SharedState, TwoGatewaysEnforceOneRateLimit) {
  ASSERT_TRUE(eventually([&] { return store_up(*a_) == 1 && store_up(*b_) == 1; }));
  for (int i = 0; i < 6; ++i) ASSERT_EQ(ask(*a_, "sk-a"), 200);
  let_them_sync();
  int admitted = 0;
  int refused = 0;
  for (int i = 0; i < 8; ++i) {
    const int status = ask(*b_, "sk-a");
    (status == 200 ? admitted : refused) += 1;
    EXPECT_TRUE(status == 200 || status == 429) << status;
  }
  // 10 a minute across both; alone, b would have admitted all 8. (A minute boundary in the middle
  // of the test lets one more through: the sliding window counts 6 × (1 − elapsed share).)
  EXPECT_GE(admitted, 4);
  EXPECT_LE(admitted, 5);
  EXPECT_EQ(admitted + refused, 8);
}

TEST_F(SharedState, TwoGatewaysEnforceOneBudget) {
  ASSERT_TRUE(eventually([&] { return store_up(*a_) == 1 && store_up(*b_) == 1; }));
  // Tens of tokens at 1000 USD a million: a few cents a request, against 0.03 USD a day. a
  // spends until its budget refuses it...
  int admitted = 0;
  while (admitted < 20 && ask(*a_, "sk-b") == 200) ++admitted;
  ASSERT_GE(admitted, 1);
  ASSERT_LT(admitted, 20);
  let_them_sync();
  // ...and b, which has spent nothing itself, refuses at once.
  const auto r = post_json(b_->port(), "/v1/chat/completions", chat_body("m"),
                           {{"authorization", "Bearer sk-b"}});
  EXPECT_EQ(r.status, 429) << "b did not see what a spent";
  EXPECT_NE(r.body.find("budget_exceeded"), std::string::npos) << r.body;
}

TEST_F(SharedState, ABreakerOneGatewayOpenedKeepsTheOthersTrafficOffThatUpstream) {
  ASSERT_TRUE(eventually([&] { return store_up(*a_) == 1 && store_up(*b_) == 1; }));
  const auto ask_f = [&](GatewayUnderTest& gw) {
    return post_json(gw.port(), "/v1/chat/completions", chat_body("f"),
                     {{"authorization", "Bearer sk-c"}});
  };
  const std::string open = R"(switchyard_breaker_state{model="f",upstream="dead"})";
  const auto state = [&](GatewayUnderTest& gw) {
    return metric(http_request(gw.port(), "GET", "/metrics").body, open);
  };
  // Before: b tries the dead upstream first, as listed, then the live one.
  auto before = ask_f(*b_);
  ASSERT_EQ(before.status, 200) << before.body;
  EXPECT_EQ(before.header("x-switchyard-attempts"), "2");
  // a fails on it five times in a row, and its breaker opens (for 2 s and up to 20% more).
  for (int i = 0; i < 5; ++i) ASSERT_EQ(ask_f(*a_).status, 200);
  ASSERT_EQ(state(*a_), 1);
  // b, which saw one failure, opens too on a's word, and goes to the live upstream at once.
  ASSERT_TRUE(eventually([&] { return state(*b_) == 1; }, 1500ms));
  auto after = ask_f(*b_);
  ASSERT_EQ(after.status, 200) << after.body;
  EXPECT_EQ(after.header("x-switchyard-attempts"), "1");
  EXPECT_EQ(after.header("x-switchyard-upstream"), "sim");
  // The opening was a's: b does not count it, and probes for itself once it ends.
  const auto body = http_request(b_->port(), "GET", "/metrics").body;
  EXPECT_EQ(metric(body, R"(switchyard_breaker_opened_total{model="f",upstream="dead"})"), 0);
  EXPECT_TRUE(eventually([&] { return state(*b_) == 2; }, 4000ms));
}

TEST_F(SharedState, AnAnswerOneGatewayCachedIsAHitOnTheOther) {
  ASSERT_TRUE(eventually([&] { return store_up(*a_) == 1 && store_up(*b_) == 1; }));
  const auto ask = [&](GatewayUnderTest& gw, const std::string& text) {
    const std::string body =
        R"({"model":"cached","temperature":0,"messages":[{"role":"user","content":")" + text +
        R"("}]})";
    return post_json(gw.port(), "/v1/chat/completions", body, {{"authorization", "Bearer sk-c"}});
  };
  // What a broken or hostile writer could leave in Redis changes nothing: an opening far in
  // the future that is not a number, an answer that expires at no time and is not one.
  const std::string prefix = "t" + std::to_string(redis_port_);
  raw_exchange(redis_port_,
               "HSET " + prefix + ":breakers dead\x1f" + "f\x1fother 99999999999999999999999\r\n" +
                   "XADD " + prefix + ":cache * replica other route cached key k expires soon "
                   "answer junk\r\n",
               200ms);
  let_them_sync();
  EXPECT_EQ(store_up(*a_), 1);
  EXPECT_EQ(metric(http_request(a_->port(), "GET", "/metrics").body,
                   R"(switchyard_breaker_state{model="f",upstream="dead"})"),
            0);  // closed: the junk opened nothing
  auto first = ask(*a_, "shared question");
  ASSERT_EQ(first.status, 200) << first.body;
  EXPECT_EQ(first.header("x-switchyard-cache"), "miss");
  // b never asked, and answers from what a kept, the same bytes, calling no upstream.
  let_them_sync();
  auto second = ask(*b_, "shared question");
  EXPECT_EQ(second.header("x-switchyard-cache"), "hit") << "b did not get a's answer";
  EXPECT_EQ(second.body, first.body);
  EXPECT_EQ(second.header("x-switchyard-attempts"), "0");
  // A gateway that starts later begins with what the stream holds.
  GatewayUnderTest c(yaml_);
  let_them_sync();
  auto third = ask(c, "shared question");
  EXPECT_EQ(third.header("x-switchyard-cache"), "hit");
  EXPECT_EQ(third.body, first.body);
  EXPECT_EQ(ask(c, "another question").header("x-switchyard-cache"), "miss");
}

TEST_F(SharedState, LosingRedisFailsNoRequestAndItsReturnRestoresSharing) {
  ASSERT_TRUE(eventually([&] { return store_up(*a_) == 1 && store_up(*b_) == 1; }));
  std::atomic<bool> stop{false};
  std::atomic<int> failed{0}, served{0}, slow{0};
  std::thread load([&] {
    for (int i = 0; i < 400 && !stop; ++i) {
      const auto start = std::chrono::steady_clock::now();
      if (ask(i % 2 ? *a_ : *b_, "sk-c") != 200) ++failed;
      // No request waits for Redis, which an exchange may for up to timeout_ms (1 s).
      if (std::chrono::steady_clock::now() - start > 900ms) ++slow;
      ++served;
      std::this_thread::sleep_for(5ms);
    }
  });
  std::this_thread::sleep_for(200ms);
  redis_->stop();
  EXPECT_TRUE(eventually([&] { return store_up(*a_) == 0 && store_up(*b_) == 0; }));
  std::this_thread::sleep_for(200ms);
  stop = true;
  load.join();
  EXPECT_EQ(failed, 0);
  EXPECT_EQ(slow, 0);
  EXPECT_GT(served, 20);

  redis_->start();
  EXPECT_TRUE(eventually([&] { return store_up(*a_) == 1 && store_up(*b_) == 1; }));
  // Sharing again: what a admits, b counts.
  for (int i = 0; i < 6; ++i) ASSERT_EQ(ask(*a_, "sk-a"), 200);
  let_them_sync();
  int admitted = 0;
  for (int i = 0; i < 8; ++i) admitted += ask(*b_, "sk-a") == 200;
  EXPECT_LE(admitted, 5);
}

}  // namespace
}  // namespace switchyard::test

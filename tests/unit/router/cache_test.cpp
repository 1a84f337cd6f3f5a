// The `cache` stage and the answer capture behind it: which requests are looked up, what makes
// two requests the same, TTL and eviction, and that a committed answer is copied for keeping.
// No socket; time is a ManualClock.
#include "api/request.hpp"
#include "router/cache/caches.hpp"
#include "router/call.hpp"
#include "router/resolve.hpp"
#include "support/fakes.hpp"
#include "support/manual_clock.hpp"

#include <gtest/gtest.h>

namespace switchyard::test {
namespace {

std::string config(const std::string& cache) {
  return R"(
upstreams:
  - name: u
    base_url: http://127.0.0.1:1/v1
    models:
      - {name: m, id: ok, price_usd_per_mtok: {input: 1, output: 2}}
routes:
  auto:
    stages:
      - {type: cache)" + cache + R"(}
      - {type: static, models: [m]}
)";
}

const std::string kHello = R"("temperature":0,"messages":[{"role":"user","content":"hello"}])";

class Cache : public ::testing::Test {
 protected:
  void build(const std::string& cache = "") { snap_ = snapshot_from_yaml(metrics_, config(cache)); }
  // Resolves a chat request to `auto` with `body`'s members after "model".
  RouteContext& lookup(const std::string& members) {
    auto req = parse_api_request(Endpoint::chat_completions, R"({"model":"auto",)" + members + "}");
    EXPECT_TRUE(req) << members;
    req_ = std::move(*req);
    ctx_.emplace(*snap_, req_, ups_, clock_);
    EXPECT_TRUE(resolve(*ctx_));
    return *ctx_;
  }
  // Ends the request just looked up with `body` as its answer, as the gateway does after a
  // miss that succeeded.
  void keep(const std::string& body) {
    ASSERT_TRUE(ctx_->cache.capture);
    ctx_->cache.capture_body(200, "application/json", body);
    ctx_->chosen = snap_->models.at("m")[0];
    ASSERT_EQ(ctx_->on_success.size(), 1u);
    for (const SuccessHook* hook : ctx_->on_success) hook->succeeded(*ctx_);
  }

  // Replays `a` for a request to `auto`, as a hit does, into `out`.
  void replay_into(CachedAnswer& a, RecordingWriter& out) {
    a.model = "m";
    build();
    auto& ctx = lookup(kHello);
    ctx.route = "auto";
    ASSERT_TRUE(run(replay(ctx, a, out)));
    EXPECT_EQ(out.events, a.events);
  }

  Metrics metrics_;
  ManualClock clock_;
  FakeUpstreams ups_{clock_};
  std::shared_ptr<const Snapshot> snap_;
  ApiRequest req_;
  std::optional<RouteContext> ctx_;
};

TEST_F(Cache, OnlyDeterministicRequestsAreLookedUp) {
  build();
  auto& sampled = lookup(R"("messages":[{"role":"user","content":"hello"}])");
  EXPECT_TRUE(sampled.cache.skipped);
  EXPECT_FALSE(sampled.cache.capture);
  auto& warm = lookup(R"("temperature":0.7,"messages":[{"role":"user","content":"hello"}])");
  EXPECT_TRUE(warm.cache.skipped);
  auto& cold = lookup(kHello);
  EXPECT_FALSE(cold.cache.skipped);
  EXPECT_TRUE(cold.cache.capture);
  EXPECT_EQ(cold.cache.hit, nullptr);
  EXPECT_EQ(cold.candidates.size(), 1u);  // a miss goes on to the other stages

  build(", any_temperature: true");
  EXPECT_TRUE(lookup(R"("messages":[{"role":"user","content":"hello"}])").cache.capture);
}

TEST_F(Cache, TheSameRequestHitsWhateverItsKeyOrderAndUser) {
  build();
  lookup(kHello);
  keep("answer");
  auto& again = lookup(R"("messages":[{"content":"hello","role":"user"}],"user":"u1",)"
                       R"("temperature":0)");
  ASSERT_NE(again.cache.hit, nullptr);
  EXPECT_EQ(again.cache.hit->body, "answer");
  EXPECT_EQ(again.cache.hit->model, "m");
  EXPECT_TRUE(again.candidates.empty());  // the stages after it did not run
  EXPECT_EQ(lookup(R"("temperature":0,"messages":[{"role":"user","content":"bye"}])").cache.hit,
            nullptr);
  EXPECT_EQ(lookup(kHello + R"(,"max_tokens":5)").cache.hit, nullptr);
  EXPECT_EQ(lookup(kHello + R"(,"stream":true)").cache.hit, nullptr);  // kept as it was sent
}

TEST_F(Cache, EntriesExpire) {
  build(", ttl_s: 10");
  lookup(kHello);
  keep("answer");
  clock_.advance(std::chrono::seconds(9));
  EXPECT_NE(lookup(kHello).cache.hit, nullptr);
  clock_.advance(std::chrono::seconds(1));
  EXPECT_EQ(lookup(kHello).cache.hit, nullptr);
}

TEST_F(Cache, TheLeastRecentlyUsedGoFirstOnceItIsFull) {
  // 8 shards of 1 KiB: about three entries each.
  build(", max_bytes: 8192, max_entry_bytes: 1024");
  auto ask = [&](int i) {
    return R"("temperature":0,"messages":[{"role":"user","content":"q)" + std::to_string(i) +
           R"("}])";
  };
  const std::string answer(200, 'a');
  for (int i = 0; i < 200; ++i) {
    lookup(ask(i));
    keep(answer);
  }
  int kept = 0;
  for (int i = 0; i < 200; ++i) kept += lookup(ask(i)).cache.hit != nullptr;
  EXPECT_GT(kept, 8);
  EXPECT_LT(kept, 40);  // 8 KiB of ~300-byte entries
  EXPECT_NE(lookup(ask(199)).cache.hit, nullptr);  // the newest stays
  EXPECT_EQ(lookup(ask(0)).cache.hit, nullptr);
}

TEST_F(Cache, ACommittedAnswerIsCapturedUpToTheEntryLimit) {
  build(", max_entry_bytes: 100000");
  auto& ctx = lookup(kHello);
  RecordingWriter out;
  ASSERT_TRUE(run(snap_->routes.at("auto").dispatcher->dispatch(ctx, out)));
  EXPECT_EQ(out.headers["x-switchyard-cache"], "miss");
  EXPECT_FALSE(ctx.cache.too_large);
  EXPECT_EQ(ctx.cache.answer.status, 200);
  EXPECT_EQ(ctx.cache.answer.body, out.body);

  auto& stream = lookup(kHello + R"(,"stream":true)");
  RecordingWriter streamed;
  ASSERT_TRUE(run(snap_->routes.at("auto").dispatcher->dispatch(stream, streamed)));
  EXPECT_EQ(stream.cache.answer.events, streamed.events);
  EXPECT_EQ(stream.cache.answer.events.size(), 4u);

  build(", max_entry_bytes: 10");
  auto& big = lookup(kHello);
  RecordingWriter out2;
  ASSERT_TRUE(run(snap_->routes.at("auto").dispatcher->dispatch(big, out2)));
  EXPECT_TRUE(big.cache.too_large);
  EXPECT_TRUE(big.cache.answer.body.empty());
}

TEST_F(Cache, ReplayGivesTheAnswerAsFirstSentAtNoCost) {
  CachedAnswer a;
  a.events = {"data: {\"x\":1}\n\n", "data: [DONE]\n\n"};
  RecordingWriter out;
  replay_into(a, out);
  EXPECT_EQ(out.headers["x-switchyard-cache"], "hit");
  EXPECT_EQ(out.headers["x-switchyard-model"], "m");
  EXPECT_EQ(out.headers["x-switchyard-attempts"], "0");
  EXPECT_EQ(out.trailers["x-switchyard-cost-usd"], "0.00000000");
}

// A long answer goes out in writes of 64 KB or so, not held whole in the writer.
TEST_F(Cache, ALongReplayIsWrittenInParts) {
  CachedAnswer a;
  const std::string event = "data: {\"x\":\"" + std::string(1000, 'y') + "\"}\n\n";
  a.events.assign(200, event);  // about 200 KB
  a.events.emplace_back("data: [DONE]\n\n");
  RecordingWriter out;
  replay_into(a, out);
  EXPECT_EQ(out.flushes, 3);  // after each 64 KB; end_stream writes the rest
}

TEST_F(Cache, AReloadKeepsTheAnswersAndSharingOffersEachOneKept) {
  auto caches = std::make_shared<ResponseCaches>();
  const auto rebuild = [&] {
    auto cfg = parse_config(config(""), "t.yaml");
    ASSERT_TRUE(cfg.config) << cfg.error;
    snap_ = build_snapshot(std::move(*cfg.config), metrics_, nullptr, nullptr, nullptr, caches)
                .snapshot;
    ASSERT_TRUE(snap_);
  };
  rebuild();
  lookup(kHello);
  keep("answer");
  EXPECT_TRUE(caches->take().empty());  // not sharing: nothing is offered
  rebuild();
  ASSERT_NE(lookup(kHello).cache.hit, nullptr);  // the reload kept it

  caches->share();
  lookup(R"("temperature":0,"messages":[{"role":"user","content":"bye"}])");
  keep("ciao");
  auto offered = caches->take();
  ASSERT_EQ(offered.size(), 1u);
  EXPECT_EQ(offered[0].route, "auto");
  EXPECT_EQ(offered[0].key.rfind("auto\n", 0), 0u) << offered[0].key;  // the key kept here
  EXPECT_NE(offered[0].key.find("bye"), std::string::npos) << offered[0].key;
  EXPECT_EQ(offered[0].answer->body, "ciao");
  EXPECT_EQ(offered[0].ttl, std::chrono::seconds(300));
  EXPECT_TRUE(caches->take().empty());

  // What another replica kept is a hit here until it expires, in its own route's cache only.
  const std::string theirs = R"("temperature":0,"messages":[{"role":"user","content":"x"}])";
  const std::string key = lookup(theirs).cache.key;
  auto answer = decode(encode(*offered[0].answer));
  ASSERT_TRUE(answer);
  caches->adopt("elsewhere", key, std::make_shared<const CachedAnswer>(*answer),
                clock_.now() + std::chrono::seconds(5), clock_.now());
  EXPECT_EQ(lookup(theirs).cache.hit, nullptr);
  caches->adopt("auto", key, std::make_shared<const CachedAnswer>(*answer),
                clock_.now() + std::chrono::hours(5), clock_.now());  // cut to the route's TTL
  ASSERT_NE(lookup(theirs).cache.hit, nullptr);
  EXPECT_EQ(lookup(theirs).cache.hit->body, "ciao");
  clock_.advance(std::chrono::seconds(300));
  EXPECT_EQ(lookup(theirs).cache.hit, nullptr);
}

TEST(CacheSharing, AnswersTravelAsTextAndTheOutboxIsBounded) {
  CachedAnswer body;
  body.content_type = "application/json";
  body.model = "m";
  body.body = R"({"id":"x"})";
  body.bytes = body.body.size();
  auto back = decode(encode(body));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->status, 200);
  EXPECT_EQ(back->content_type, "application/json");
  EXPECT_EQ(back->model, "m");
  EXPECT_EQ(back->body, body.body);
  EXPECT_EQ(back->bytes, body.bytes);
  CachedAnswer stream;
  stream.content_type = "text/event-stream";
  stream.model = "n";
  stream.events = {"data: {\"a\":1}\n\n", "data: [DONE]\n\n"};
  back = decode(encode(stream));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->events, stream.events);
  EXPECT_TRUE(back->body.empty());
  EXPECT_EQ(back->bytes, stream.events[0].size() + stream.events[1].size());
  for (const char* junk : {"", "junk", "{}", "[]", R"({"status":"200","content_type":"","model":""})",
                           R"({"status":200,"content_type":"","model":"","events":[1]})",
                           R"({"status":200,"content_type":"","model":""})",
                           R"({"status":-1,"content_type":"","model":"","body":""})",
                           R"({"status":4294967496,"content_type":"","model":"","body":""})"})
    EXPECT_FALSE(decode(junk)) << junk;

  ResponseCaches caches;
  caches.share();
  auto answer = std::make_shared<const CachedAnswer>(body);
  for (std::size_t i = 0; i < ResponseCaches::kMaxOutbox + 10; ++i)
    caches.offer("r", std::to_string(i), answer, std::chrono::seconds(1));
  auto offered = caches.take();
  ASSERT_EQ(offered.size(), ResponseCaches::kMaxOutbox);
  EXPECT_EQ(offered.front().key, "0");  // oldest first
  EXPECT_EQ(offered.back().key, std::to_string(ResponseCaches::kMaxOutbox - 1));
  caches.offer("r", "again", answer, std::chrono::seconds(1));
  EXPECT_EQ(caches.take().size(), 1u);
  CachedAnswer huge = body;  // as large as the outbox may hold, key aside: dropped
  huge.bytes = ResponseCaches::kMaxOutboxBytes;
  caches.offer("r", "huge", std::make_shared<const CachedAnswer>(huge), std::chrono::seconds(1));
  caches.offer("r", "small", answer, std::chrono::seconds(1));
  offered = caches.take();
  ASSERT_EQ(offered.size(), 1u);
  EXPECT_EQ(offered[0].key, "small");
}

TEST(CacheConfig, ErrorsNameThePath) {
  Metrics metrics;
  auto error = [&](const std::string& cache) {
    auto cfg = parse_config(config(cache), "t.yaml");
    if (!cfg.config) return cfg.error;
    return build_snapshot(std::move(*cfg.config), metrics).error;
  };
  EXPECT_EQ(error(", ttl_s: 0"), "routes.auto.stages[0].ttl_s: must be greater than 0");
  EXPECT_EQ(error(", max_bytes: 10, max_entry_bytes: 100"),
            "routes.auto.stages[0].max_entry_bytes: must be greater than 0 and at most max_bytes");
  EXPECT_EQ(error(", ttl: 5"), "routes.auto.stages[0].ttl: unknown key");
}

}  // namespace
}  // namespace switchyard::test

// The `sticky` stage: a session keeps the target that answered it last, by its id or its first
// messages, per caller, for ttl_s. No socket; time is a ManualClock.
#include "api/prompt.hpp"
#include "api/request.hpp"
#include "router/resolve.hpp"
#include "support/fakes.hpp"
#include "support/manual_clock.hpp"

#include <gtest/gtest.h>

namespace switchyard::test {
namespace {

std::string config(const std::string& sticky) {
  return R"(
upstreams:
  - name: u
    base_url: http://127.0.0.1:1/v1
    models:
      - {name: big, price_usd_per_mtok: {input: 10, output: 30}}
      - {name: small, price_usd_per_mtok: {input: 1, output: 3}}
routes:
  auto:
    stages:
      - {type: static, models: [big, small]}
      - {type: sticky)" + sticky + R"(}
)";
}

const std::string kFirstTurn = R"("messages":[{"role":"user","content":"plan a trip"}])";
const std::string kSecondTurn =
    R"("messages":[{"role":"user","content":"plan a trip"},{"role":"assistant","content":"ok"},)"
    R"({"role":"user","content":"to Lisbon"}])";

class Sticky : public ::testing::Test {
 protected:
  void build(const std::string& sticky = "") {
    snap_ = snapshot_from_yaml(metrics_, config(sticky));
  }
  // The first candidate for a request with `members`, in `session` (none if empty), by `caller`.
  std::string first(const std::string& members, const std::string& session = "",
                    std::string_view caller = "") {
    auto req = parse_api_request(Endpoint::chat_completions, R"({"model":"auto",)" + members + "}");
    EXPECT_TRUE(req);
    req_ = std::move(*req);
    if (!session.empty()) req_.session = session;
    ctx_.emplace(*snap_, req_, ups_, clock_);
    ctx_->caller.name = caller;
    EXPECT_TRUE(resolve(*ctx_));
    return ctx_->candidates.front()->model->name;
  }
  // Ends the request just resolved as answered by `model`.
  void answered_by(const std::string& model) {
    ctx_->chosen = snap_->models.at(model)[0];
    for (const SuccessHook* hook : ctx_->on_success) hook->succeeded(*ctx_);
  }

  Metrics metrics_;
  ManualClock clock_;
  FakeUpstreams ups_{clock_};
  std::shared_ptr<const Snapshot> snap_;
  ApiRequest req_;
  std::optional<RouteContext> ctx_;
};

TEST_F(Sticky, ASessionKeepsTheModelThatAnsweredIt) {
  build();
  EXPECT_EQ(first(kFirstTurn, "s1"), "big");
  EXPECT_FALSE(ctx_->decision.sticky);
  answered_by("small");  // say big failed and small answered
  EXPECT_EQ(first(kSecondTurn, "s1"), "small");
  EXPECT_TRUE(ctx_->decision.sticky);
  EXPECT_EQ(ctx_->candidates.size(), 2u);  // big stays as the fallback
  EXPECT_EQ(first(kSecondTurn, "s2"), "big");
  EXPECT_EQ(first(kSecondTurn, "s1", "another-key"), "big");  // sessions are per client key
}

TEST_F(Sticky, WithoutAnIdAConversationIsKnownByItsFirstMessages) {
  build();
  EXPECT_EQ(first(kFirstTurn), "big");
  answered_by("small");
  EXPECT_EQ(first(kSecondTurn), "small");  // the same first user message
  EXPECT_EQ(first(R"("messages":[{"role":"user","content":"write a poem"}])"), "big");
  EXPECT_EQ(first(R"("messages":[{"role":"system","content":"be brief"},)"
                  R"({"role":"user","content":"plan a trip"}])"),
            "big");  // another system prompt: another conversation

  build(", by_conversation: false");
  first(kFirstTurn);
  EXPECT_TRUE(ctx_->on_success.empty());
}

TEST_F(Sticky, APinExpiresTtlAfterTheLastAnswer) {
  build(", ttl_s: 60");
  first(kFirstTurn, "s1");
  answered_by("small");
  clock_.advance(std::chrono::seconds(59));
  EXPECT_EQ(first(kFirstTurn, "s1"), "small");
  answered_by("small");  // refreshed
  clock_.advance(std::chrono::seconds(59));
  EXPECT_EQ(first(kFirstTurn, "s1"), "small");
  clock_.advance(std::chrono::seconds(61));
  EXPECT_EQ(first(kFirstTurn, "s1"), "big");
}

TEST_F(Sticky, APinThatIsNoLongerACandidateIsIgnored) {
  build();
  first(kFirstTurn, "s1");
  answered_by("small");
  std::vector<std::string> only_big{"big"};
  auto req = parse_api_request(Endpoint::chat_completions, R"({"model":"auto",)" + kFirstTurn + "}");
  req->session = "s1";
  RouteContext ctx(*snap_, *req, ups_, clock_);
  ctx.caller.models = &only_big;  // a key that may not use small
  ASSERT_TRUE(resolve(ctx));
  ASSERT_EQ(ctx.candidates.size(), 1u);
  EXPECT_EQ(ctx.candidates[0]->model->name, "big");
}

TEST_F(Sticky, AHugeSessionIdIsHashed) {
  build();
  first(kFirstTurn, std::string(100'000, 'x'));
  EXPECT_LT(ctx_->session.size(), 200u);
  answered_by("small");
  EXPECT_EQ(first(kFirstTurn, std::string(100'000, 'x')), "small");
}

TEST(SessionOfARequest, IsItsPromptCacheKeyElseItsUser) {
  auto r = parse_api_request(Endpoint::chat_completions,
                             R"({"model":"m","user":"u1","prompt_cache_key":"pck",)" + kFirstTurn +
                                 "}");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->session, "pck");
  r = parse_api_request(Endpoint::chat_completions,
                        R"({"model":"m","user":"u1",)" + kFirstTurn + "}");
  EXPECT_EQ(r->session, "u1");
  auto turn1 = parse_api_request(Endpoint::chat_completions, R"({"model":"m",)" + kFirstTurn + "}");
  auto turn2 = parse_api_request(Endpoint::chat_completions, R"({"model":"m",)" + kSecondTurn + "}");
  EXPECT_EQ(turn1->session, "");
  EXPECT_NE(conversation_of(turn1->prompt), 0u);
  EXPECT_EQ(conversation_of(turn1->prompt), conversation_of(turn2->prompt));
  // The system text is what preceded the first user message: one added after it (by a client
  // that appends instructions) leaves the conversation as it was; one before it does not.
  const auto conversation = [](const std::string& messages) {
    auto r = parse_api_request(Endpoint::chat_completions,
                               R"({"model":"m","messages":[)" + messages + "]}");
    EXPECT_TRUE(r);
    return r ? conversation_of(r->prompt) : 0;
  };
  const std::string sys = R"({"role":"system","content":"be brief"},)";
  const std::string user1 = R"({"role":"user","content":"plan a trip"})";
  const std::string turn2_tail =
      R"(,{"role":"assistant","content":"ok"},{"role":"user","content":"to Lisbon"})";
  const auto with_system = conversation(sys + user1);
  EXPECT_NE(with_system, conversation_of(turn1->prompt));
  EXPECT_EQ(conversation(sys + user1 + turn2_tail), with_system);
  EXPECT_EQ(conversation(sys + user1 + "," + sys.substr(0, sys.size() - 1)), with_system);
  EXPECT_EQ(conversation(sys + user1 + "," + sys + R"({"role":"assistant","content":"ok"},)" +
                         R"({"role":"user","content":"to Lisbon"})"),
            with_system);
}

TEST(StickyConfig, ErrorsNameThePath) {
  Metrics metrics;
  auto error = [&](const std::string& sticky) {
    auto cfg = parse_config(config(sticky), "t.yaml");
    if (!cfg.config) return cfg.error;
    return build_snapshot(std::move(*cfg.config), metrics).error;
  };
  EXPECT_EQ(error(", ttl_s: 0"), "routes.auto.stages[1].ttl_s: must be greater than 0");
  EXPECT_EQ(error(", max_sessions: 2"), "routes.auto.stages[1].max_sessions: must be at least 8");
  EXPECT_EQ(error(", by_id: true"), "routes.auto.stages[1].by_id: unknown key");
}

}  // namespace
}  // namespace switchyard::test

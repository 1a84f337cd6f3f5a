#include "switchyard/error.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace switchyard {
namespace {

TEST(Error, OpenAiShapeWithNullsForEmptyFields) {
  auto e = make_error(Reason::not_found, "no such model", "model");
  auto j = nlohmann::json::parse(to_openai_json(e));
  EXPECT_EQ(j["error"]["message"], "no such model");
  EXPECT_EQ(j["error"]["type"], "invalid_request_error");
  EXPECT_EQ(j["error"]["param"], "model");
  EXPECT_EQ(j["error"]["code"], "not_found");
  EXPECT_EQ(e.status, 404);

  Error bare;
  bare.reason = Reason::internal;
  bare.message = "x";
  auto k = nlohmann::json::parse(to_openai_json(bare));
  EXPECT_TRUE(k["error"]["param"].is_null());
  EXPECT_TRUE(k["error"]["code"].is_null());
}

TEST(Error, StatusesByReason) {
  EXPECT_EQ(make_error(Reason::body_too_large, "").status, 413);
  EXPECT_EQ(make_error(Reason::unauthorized, "").status, 401);
  EXPECT_EQ(make_error(Reason::timeout_first_token, "").status, 504);
  EXPECT_EQ(make_error(Reason::connect, "").status, 502);
  EXPECT_EQ(make_error(Reason::draining, "").status, 503);
  EXPECT_GT(make_error(Reason::too_many_requests, "").retry_after_ms, 0u);
  EXPECT_EQ(upstream_status_error(503, "x").status, 503);
  EXPECT_EQ(upstream_status_error(500, "x").status, 502);
  EXPECT_EQ(upstream_status_error(429, "x", 2000).retry_after_ms, 2000u);
}

TEST(Error, OnlyUpstreamFailuresAreRetryable) {
  EXPECT_TRUE(is_retryable(make_error(Reason::connect, "")));
  EXPECT_TRUE(is_retryable(make_error(Reason::timeout_total, "")));
  EXPECT_TRUE(is_retryable(upstream_status_error(500, "")));
  EXPECT_FALSE(is_retryable(make_error(Reason::bad_request, "")));
  EXPECT_FALSE(is_retryable(make_error(Reason::cancelled, "")));
}

TEST(Error, InvalidUtf8InMessageStillRendersJson) {
  auto e = make_error(Reason::bad_request, std::string("bad \xff byte"));
  auto j = nlohmann::json::parse(to_openai_json(e), nullptr, false);
  ASSERT_FALSE(j.is_discarded());
}

}  // namespace
}  // namespace switchyard

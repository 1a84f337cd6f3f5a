// Session stickiness end to end, against the simulator: a session that was answered by the
// cheap model (its first request capped the cost) stays on it, while new sessions get the
// better one.
#include "support/fixture.hpp"

#include <fmt/format.h>

namespace switchyard::test {
namespace {

TEST(Sticky, ASessionStaysOnItsModel) {
  auto sim = start_sim();
  GatewayUnderTest gw(fmt::format(R"(
upstreams:
  - name: sim
    base_url: http://127.0.0.1:{}/v1
    models:
      - {{name: big, price_usd_per_mtok: {{input: 100, output: 300}}}}
      - {{name: small, price_usd_per_mtok: {{input: 1, output: 3}}}}
routes:
  auto:
    stages:
      - {{type: static, models: [big, small]}}
      - {{type: scorer, quality: {{big: 0.9, small: 0.7}}}}
      - {{type: sticky}}
)",
                                  sim->port()));
  auto ask = [&](const std::string& session, const std::string& max_cost = "") {
    std::map<std::string, std::string> headers{{"x-session-id", session}};
    if (!max_cost.empty()) headers["x-switchyard-max-cost-usd"] = max_cost;
    auto r = post_json(gw.port(), "/v1/chat/completions", chat_body("auto"), headers);
    EXPECT_EQ(r.status, 200) << r.body;
    return r.header("x-switchyard-model");
  };
  EXPECT_EQ(ask("s1", "0.001"), "small");  // big would cost more than the cap
  // The pin is set once the request has ended on the gateway.
  EXPECT_TRUE(eventually([&] { return ask("s1") == "small"; }));
  for (int i = 0; i < 5; ++i) EXPECT_EQ(ask("s1"), "small");
  EXPECT_EQ(ask("s2"), "big");
}

}  // namespace
}  // namespace switchyard::test

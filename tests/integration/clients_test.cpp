// Client keys end to end, against the simulator: tiers pick models, a key near its budget is
// routed cheaper and one over it gets 429, rate limits, allowed routes, and /metrics.
#include "support/fixture.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdlib>

namespace switchyard::test {
namespace {

using json = nlohmann::json;

// big costs 20 times what small does; `auto` scores them, `cheap` offers only small.
std::string config(unsigned short sim_port) {
  return fmt::format(R"(
upstreams:
  - name: sim
    base_url: http://127.0.0.1:{}/v1
    models:
      - {{name: big, price_usd_per_mtok: {{input: 100, output: 300}}}}
      - {{name: small, price_usd_per_mtok: {{input: 5, output: 15}}}}
routes:
  auto:
    stages:
      - {{type: static, models: [small, big]}}
      - type: scorer
        quality: {{big: 0.9, small: 0.7}}
        tiers: {{free: {{cost_weight: 1}}}}
        near_budget: {{at: 0.5, cost_weight: 1}}
  cheap:
    stages:
      - {{type: static, models: [small]}}
clients:
  keys:
    - {{name: premium, key: "${{SY_TEST_PREMIUM}}", tier: premium}}
    - {{name: free, key: "${{SY_TEST_FREE}}", tier: free, requests_per_minute: 3}}
    - {{name: capped, key: "${{SY_TEST_CAPPED}}", budget_usd_per_day: 0.02, routes: [auto]}}
)",
                     sim_port);
}

class Clients : public ::testing::Test {
 protected:
  void SetUp() override {
    ::setenv("SY_TEST_PREMIUM", "sk-premium", 1);
    ::setenv("SY_TEST_FREE", "sk-free", 1);
    ::setenv("SY_TEST_CAPPED", "sk-capped", 1);
    sim_ = start_sim();
    gw_.emplace(config(sim_->port()));
  }
  HttpResponse ask(const std::string& key, const std::string& model = "auto") {
    return post_json(gw_->port(), "/v1/chat/completions", chat_body(model),
                     {{"authorization", "Bearer " + key}});
  }

  std::unique_ptr<SimServer> sim_;
  std::optional<GatewayUnderTest> gw_;
};

TEST_F(Clients, TheTierPicksTheModel) {
  auto premium = ask("sk-premium");
  ASSERT_EQ(premium.status, 200) << premium.body;
  EXPECT_EQ(premium.header("x-switchyard-model"), "big");
  auto free = ask("sk-free");
  ASSERT_EQ(free.status, 200) << free.body;
  EXPECT_EQ(free.header("x-switchyard-model"), "small");
  EXPECT_EQ(ask("sk-nobody").status, 401);
}

TEST_F(Clients, RequestsPerMinuteAreLimited) {
  for (int i = 0; i < 3; ++i) ASSERT_EQ(ask("sk-free").status, 200) << i;
  auto r = ask("sk-free");
  ASSERT_EQ(r.status, 429) << r.body;
  EXPECT_EQ(json::parse(r.body)["error"]["code"], "rate_limit_exceeded");
  const int wait = std::atoi(r.header("retry-after").c_str());
  EXPECT_GE(wait, 19);  // one request every 20 s
  EXPECT_LE(wait, 20);
  EXPECT_EQ(ask("sk-premium").status, 200);  // another key is not limited
}

TEST_F(Clients, AKeyMayCallOnlyItsRoutes) {
  auto r = ask("sk-capped", "cheap");
  ASSERT_EQ(r.status, 403) << r.body;
  EXPECT_EQ(json::parse(r.body)["error"]["type"], "permission_error");
}

TEST_F(Clients, ModelsListsWhatTheKeyMayCall) {
  auto list = [&](const std::string& key, const std::string& path = "/v1/models") {
    return http_request(gw_->port(), "GET", path, "", {{"authorization", "Bearer " + key}});
  };
  auto all = json::parse(list("sk-premium").body)["data"];
  auto capped = json::parse(list("sk-capped").body)["data"];
  std::vector<std::string> ids;
  for (const auto& m : capped) ids.push_back(m["id"]);
  EXPECT_EQ(all.size(), 4u);  // big, small, auto, cheap
  EXPECT_EQ(ids, (std::vector<std::string>{"big", "small", "auto"}));  // not the route cheap
  EXPECT_EQ(list("sk-capped", "/v1/models/cheap").status, 404);
  EXPECT_EQ(list("sk-capped", "/v1/models/auto").status, 200);
  EXPECT_EQ(list("sk-nobody").status, 401);
}

TEST_F(Clients, AKeyNearItsBudgetRoutesCheaperThenGets429) {
  const double budget = 0.02;
  double spent = 0, dearest = 0;
  int cheaper = 0;
  HttpResponse r;
  for (int i = 0; i < 400; ++i) {
    r = ask("sk-capped");
    if (r.status != 200) break;
    const std::string model = r.header("x-switchyard-model");
    // Spend is charged once the answer is written: the next request may not see the last.
    if (spent - dearest >= budget / 2) {
      EXPECT_EQ(model, "small") << "after " << spent << " USD";
    }
    if (i == 0) {
      EXPECT_EQ(model, "big");
    }
    cheaper += model == "small";
    const double cost = std::stod(r.header("x-switchyard-cost-usd"));
    spent += cost;
    dearest = std::max(dearest, cost);
  }
  ASSERT_EQ(r.status, 429) << r.body;
  EXPECT_EQ(json::parse(r.body)["error"]["code"], "budget_exceeded");
  EXPECT_GE(spent, budget);
  EXPECT_GT(cheaper, 0);
  const int wait = std::atoi(r.header("retry-after").c_str());
  EXPECT_GT(wait, 0);
  EXPECT_LE(wait, 86400);  // midnight UTC
  if (wait > 60) {
    EXPECT_EQ(r.header("x-should-retry"), "false");  // longer than SDKs wait
  }
  // /metrics shows what it spent, as the gateway charged it.
  const std::string needle = R"(switchyard_client_spend_usd{client="capped",period="day"} )";
  double charged = 0;
  EXPECT_TRUE(eventually([&] {
    auto m = http_request(gw_->port(), "GET", "/metrics");
    const auto at = m.body.find(needle);
    charged = at == std::string::npos ? 0 : std::stod(m.body.substr(at + needle.size()));
    return std::abs(charged - spent) < 1e-6;
  })) << charged << " charged, " << spent << " answered";
  auto m = http_request(gw_->port(), "GET", "/metrics");
  EXPECT_NE(m.body.find(R"(switchyard_client_requests_total{client="capped",outcome="over_budget"} 1)"),
            std::string::npos);
}

TEST(ClientsFile, EditingTheKeysFileReloadsTheKeys) {
  auto sim = start_sim();
  TempDir secrets;
  const std::string keys = secrets.write("keys.yaml", "- {name: old, key: sk-old}\n");
  GatewayUnderTest gw(fmt::format(R"(
upstreams:
  - name: sim
    base_url: http://127.0.0.1:{}/v1
    models: [{{name: m}}]
clients:
  keys_file: {}
)",
                                  sim->port(), keys));
  auto ask = [&](const std::string& key) {
    return post_json(gw.port(), "/v1/chat/completions", chat_body("m"),
                     {{"authorization", "Bearer " + key}})
        .status;
  };
  EXPECT_EQ(ask("sk-old"), 200);
  EXPECT_EQ(ask("sk-new"), 401);
  gw.gateway().poll_config_file();  // nothing changed: no reload
  EXPECT_EQ(ask("sk-new"), 401);
  secrets.write("keys.yaml", "- {name: new, key: sk-new}\n");
  gw.gateway().poll_config_file();  // as the daemon does every reload_poll_ms
  EXPECT_EQ(ask("sk-new"), 200);
  EXPECT_EQ(ask("sk-old"), 401);
}

}  // namespace
}  // namespace switchyard::test

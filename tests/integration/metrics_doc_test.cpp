// docs/metrics.md and /metrics agree: after traffic through every kind of route (a cascade that
// escalates, a hedge, a race, a cache, a client key, a feedback), the families /metrics exports
// are exactly those the document's table lists.
#include "support/fixture.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <regex>
#include <set>

namespace switchyard::test {
namespace {

std::set<std::string> documented() {
  std::ifstream in(std::string(SWITCHYARD_SOURCE_DIR) + "/docs/metrics.md");
  std::set<std::string> names;
  const std::regex row(R"(^\| `([a-z_0-9]+)` \|)");
  std::smatch m;
  for (std::string line; std::getline(in, line);)
    if (std::regex_search(line, m, row)) names.insert(m[1]);
  return names;
}

std::set<std::string> exported(const std::string& text) {
  std::set<std::string> names;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    if (line.rfind("# TYPE ", 0) == 0) names.insert(line.substr(7, line.find(' ', 7) - 7));
  return names;
}

TEST(MetricsDoc, ListsExactlyWhatMetricsExports) {
  ::setenv("SY_METRICS_DOC_KEY", "sk-doc", 1);
  auto sim = start_sim();
  GatewayUnderTest gw(fmt::format(R"(
upstreams:
  - name: sim
    base_url: http://127.0.0.1:{}/v1
    models:
      - {{name: a, id: "m", price_usd_per_mtok: {{input: 1, output: 2}}}}
      - {{name: b, id: "m", price_usd_per_mtok: {{input: 3, output: 6}}}}
      - {{name: broken, id: "m;status=500"}}
routes:
  auto:
    stages: [{{type: static, models: [broken, b]}}]
    dispatcher:
      type: cascade
      tiers:
        - {{models: [broken], gates: {{refusal: true}}}}
        - {{models: [b]}}
  hedged:
    stages: [{{type: static, models: [a, b]}}]
    dispatcher: {{type: hedge, delay: fixed, delay_ms: 1}}
  raced:
    stages: [{{type: static, models: [a, b]}}]
    dispatcher: {{type: race}}
  cached:
    stages: [{{type: cache, ttl_s: 60}}, {{type: static, models: [a]}}]
clients:
  keys:
    - {{name: team, key: "${{SY_METRICS_DOC_KEY}}", budget_usd_per_day: 5}}
)",
                                  sim->port()));
  const std::map<std::string, std::string> key{{"authorization", "Bearer sk-doc"}};
  std::string id;
  for (const char* route : {"auto", "hedged", "raced", "cached", "cached"}) {
    auto r = post_json(gw.port(), "/v1/chat/completions", chat_body(route), key);
    ASSERT_EQ(r.status, 200) << route << ": " << r.body;
    id = r.header("x-request-id");
  }
  const auto feedback = nlohmann::json{{"request_id", id}, {"thumbs", "up"}}.dump();
  ASSERT_TRUE(eventually(
      [&] { return post_json(gw.port(), "/v1/feedback", feedback, key).status == 200; }));

  std::string text;
  ASSERT_TRUE(eventually([&] {
    text = http_request(gw.port(), "GET", "/metrics").body;
    return text.find("switchyard_feedback_total{") != std::string::npos;
  }));
  const auto docs = documented();
  const auto live = exported(text);
  for (const auto& name : live) EXPECT_TRUE(docs.count(name)) << name << " is not in docs/metrics.md";
  for (const auto& name : docs) EXPECT_TRUE(live.count(name)) << name << " is documented, not exported";
  EXPECT_GT(docs.size(), 30u);  // the table was read
}

}  // namespace
}  // namespace switchyard::test

// switchyard-sim over HTTP: replay, latency profiles, limits, episodes, faults and the OpenAI
// request features it honours. And the replay check through the gateway on real data.
#include "support/fixture.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <future>
#include <iostream>
#include <numeric>

namespace switchyard::test {
namespace {

using json = nlohmann::json;

std::shared_ptr<sim::Fleet> fleet_from(const TempDir& dir, const std::string& yaml) {
  auto f = sim::load_fleet(dir.write("fleet.yaml", yaml));
  EXPECT_TRUE(f) << (f ? "" : f.error().message);
  return f ? std::shared_ptr<sim::Fleet>(std::move(*f)) : nullptr;
}

std::unique_ptr<SimServer> sim_with(std::shared_ptr<sim::Fleet> fleet, unsigned workers = 2) {
  SimOptions o;
  o.fleet = std::move(fleet);
  o.workers = workers;
  return start_sim(o);
}

json chat(unsigned short port, const std::string& model, const std::string& extra = {},
          const std::map<std::string, std::string>& headers = {}, HttpResponse* raw = nullptr) {
  auto r = post_json(port, "/v1/chat/completions", chat_body(model, extra), headers);
  if (raw) *raw = r;
  return json::parse(r.body, nullptr, false);
}

TEST(Sim, ReplaysRecordedAnswersWithQuality) {
  TempDir dir;
  auto ds_path = dir.write(
      "ds.jsonl",
      R"({"id":"x","split":"test","messages":[{"role":"user","content":"Say hello to the tests."}],)"
      R"("outcomes":{"good":{"quality":0.75,"cost_usd":0.01,"output_tokens":7,"response":"Hello, tests!"}}})"
      "\n");
  auto fleet = fleet_from(dir, R"(models:
  - name: good
    ttft_ms: {median: 1}
    tokens_per_s: {median: 0}
  - name: other
    ttft_ms: {median: 1}
    tokens_per_s: {median: 0}
)");
  auto ds = sim::Dataset::load(ds_path, "");
  ASSERT_TRUE(ds);
  fleet->dataset = *ds;
  auto sim = sim_with(fleet);
  HttpResponse r;
  auto j = chat(sim->port(), "good", {}, {}, &r);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(j["choices"][0]["message"]["content"], "Hello, tests!");
  EXPECT_EQ(j["usage"]["completion_tokens"], 7);
  EXPECT_EQ(r.header("x-sim-quality"), "0.75");
  // A model without a recorded outcome gets generated text and a simulated 0/1 quality.
  auto o = chat(sim->port(), "other", {}, {}, &r);
  EXPECT_NE(o["choices"][0]["message"]["content"], "Hello, tests!");
  EXPECT_TRUE(r.header("x-sim-quality") == "0" || r.header("x-sim-quality") == "1");
  // Unknown models are a 404, as from a real provider.
  EXPECT_EQ(post_json(sim->port(), "/v1/chat/completions", chat_body("gpt-9")).status, 404);
}

TEST(Sim, MeanLatencyFollowsTheProfile) {
  TempDir dir;
  // Mean time to first token = 40 * exp(0.3^2 / 2) = 41.8 ms; 8 tokens at 400/s add 20 ms.
  // Model z answers at once: its mean is the HTTP and sanitizer overhead, taken off m's.
  auto sim = sim_with(fleet_from(dir, R"(models:
  - name: m
    ttft_ms: {median: 40, sigma: 0.3}
    tokens_per_s: {median: 400, sigma: 0}
    output_tokens: {median: 8, sigma: 0}
  - name: z
    ttft_ms: {median: 0.001, sigma: 0}
    tokens_per_s: {median: 1000000, sigma: 0}
    output_tokens: {median: 8, sigma: 0}
)"));
  constexpr int n = 60;
  auto mean_ms = [&](const char* model) {
    double total_ms = 0;
    for (int i = 0; i < n; ++i) {
      auto t0 = std::chrono::steady_clock::now();
      EXPECT_EQ(post_json(sim->port(), "/v1/chat/completions", chat_body(model)).status, 200);
      total_ms +=
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    }
    return total_ms / n;
  };
  const double overhead = mean_ms("z");
  const double m = mean_ms("m");
  // The standard error of the mean over 60 draws is ~1.6 ms; allow scheduling noise on top.
  EXPECT_NEAR(m - overhead, 41.8 + 20.0, 8.0) << "m " << m << " ms, overhead " << overhead << " ms";
}

TEST(Sim, StreamsAtTheModelsTokenRate) {
  TempDir dir;
  auto sim = sim_with(fleet_from(dir, R"(models:
  - name: m
    ttft_ms: {median: 1, sigma: 0}
    tokens_per_s: {median: 100, sigma: 0}
    output_tokens: {median: 30, sigma: 0}
)"));
  auto t0 = std::chrono::steady_clock::now();
  auto s = read_sse(sim->port(), chat_body("m", R"("stream":true)"));
  auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_TRUE(s.complete);
  EXPECT_EQ(s.events.size(), 1u + 30 + 1 + 1);  // role, 30 tokens, finish, [DONE]
  EXPECT_NEAR(ms, 300, 60);  // 30 tokens at 100 tokens/s
}

TEST(Sim, ConcurrencyLimitAnswers429WithRetryAfter) {
  TempDir dir;
  auto sim = sim_with(fleet_from(dir, "models:\n  - name: m\n    max_concurrent: 2\n    ttft_ms: {median: 400}\n    tokens_per_s: {median: 0}\n"), 1);
  std::vector<std::future<HttpResponse>> busy;
  busy.reserve(2);
  for (int i = 0; i < 2; ++i)
    busy.push_back(std::async(std::launch::async, [&] {
      return post_json(sim->port(), "/v1/chat/completions", chat_body("m"));
    }));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  auto r = post_json(sim->port(), "/v1/chat/completions", chat_body("m"));
  EXPECT_EQ(r.status, 429);
  EXPECT_EQ(r.header("retry-after"), "1");
  for (auto& f : busy) EXPECT_EQ(f.get().status, 200);
  EXPECT_EQ(post_json(sim->port(), "/v1/chat/completions", chat_body("m")).status, 200);
}

TEST(Sim, EpisodesHappenOnScheduleScaledByTimeScale) {
  TempDir dir;
  // time_scale 0.01: the outage at simulated 20..60 s is real 0.2..0.6 s after start.
  auto sim = sim_with(fleet_from(dir, R"(time_scale: 0.01
models:
  - name: m
    ttft_ms: {median: 1, sigma: 0}
    tokens_per_s: {median: 0}
    episodes:
      - {type: outage, start_s: 20, end_s: 60}
      - {type: latency_spike, start_s: 80, end_s: 200, factor: 3000}
)"));
  auto t0 = std::chrono::steady_clock::now();
  auto at = [&](int ms) { std::this_thread::sleep_until(t0 + std::chrono::milliseconds(ms)); };
  EXPECT_EQ(post_json(sim->port(), "/v1/chat/completions", chat_body("m")).status, 200);
  at(350);
  EXPECT_EQ(post_json(sim->port(), "/v1/chat/completions", chat_body("m")).status, 503);
  at(1000);
  // Spike: 1 ms * 3000 simulated = 30 ms real.
  auto t1 = std::chrono::steady_clock::now();
  EXPECT_EQ(post_json(sim->port(), "/v1/chat/completions", chat_body("m")).status, 200);
  EXPECT_GE(std::chrono::steady_clock::now() - t1, std::chrono::milliseconds(25));
  at(2100);
  auto t2 = std::chrono::steady_clock::now();
  EXPECT_EQ(post_json(sim->port(), "/v1/chat/completions", chat_body("m")).status, 200);
  EXPECT_LT(std::chrono::steady_clock::now() - t2, std::chrono::milliseconds(25));
}

TEST(Sim, ErrorRateIsRoughlyHonoured) {
  TempDir dir;
  auto sim = sim_with(fleet_from(dir, "models:\n  - name: m\n    ttft_ms: {median: 0}\n    tokens_per_s: {median: 0}\n    error_rate: 0.3\n"));
  int errors = 0;
  for (int i = 0; i < 300; ++i)
    errors += post_json(sim->port(), "/v1/chat/completions", chat_body("m")).status == 500;
  EXPECT_NEAR(errors / 300.0, 0.3, 0.09);
}

TEST(Sim, FaultHeaders) {
  auto sim = start_sim();
  auto r503 = post_json(sim->port(), "/v1/chat/completions", chat_body("m"), {{"x-sim-fault", "status=503"}});
  EXPECT_EQ(r503.status, 503);
  auto r429 = post_json(sim->port(), "/v1/chat/completions", chat_body("m"),
                        {{"x-sim-fault", "status=429,retry_after_s=3"}});
  EXPECT_EQ(r429.status, 429);
  EXPECT_EQ(r429.header("retry-after"), "3");
  EXPECT_EQ(post_json(sim->port(), "/v1/chat/completions", chat_body("m"), {{"x-sim-fault", "reset"}}).status, 0);
  EXPECT_EQ(post_json(sim->port(), "/v1/chat/completions", chat_body("m"), {{"x-sim-fault", "garbage"}}).status, 0);
  auto body = chat_body("m");
  auto out = raw_exchange(sim->port(),
                          "POST /v1/chat/completions HTTP/1.1\r\nx-sim-fault: stall_first_byte\r\n"
                          "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body,
                          std::chrono::milliseconds(300));
  EXPECT_EQ(out, "");  // nothing within 300 ms
  // Stalls and cuts mid-stream are exercised through the gateway in ProxyTest.
}

TEST(Sim, HonoursNMaxTokensAndStop) {
  auto sim = start_sim();
  auto j = chat(sim->port(), "m;tokens=20", R"("n":3,"max_tokens":5)");
  ASSERT_EQ(j["choices"].size(), 3u);
  for (const auto& c : j["choices"]) EXPECT_EQ(c["finish_reason"], "length");
  EXPECT_EQ(j["usage"]["completion_tokens"], 15);
  EXPECT_NE(j["choices"][0]["message"]["content"], j["choices"][1]["message"]["content"]);

  auto full = chat(sim->port(), "m;tokens=20");
  auto text = full["choices"][0]["message"]["content"].get<std::string>();
  auto word = text.substr(text.find(' ', 10) + 1, 3);  // something that occurs mid-answer
  auto stopped = chat(sim->port(), "m;tokens=20", R"("stop":[")" + word + R"("])");
  auto cut = stopped["choices"][0]["message"]["content"].get<std::string>();
  EXPECT_EQ(cut.find(word), std::string::npos);
  EXPECT_EQ(text.rfind(cut, 0), 0u);  // a prefix of the full answer
  EXPECT_EQ(stopped["choices"][0]["finish_reason"], "stop");
}

TEST(Sim, StructuredOutputsConform) {
  auto sim = start_sim();
  auto obj = chat(sim->port(), "m", R"("response_format":{"type":"json_object"})");
  auto parsed = json::parse(obj["choices"][0]["message"]["content"].get<std::string>(), nullptr, false);
  EXPECT_TRUE(parsed.is_object());

  auto sch = chat(sim->port(), "m", R"("response_format":{"type":"json_schema","json_schema":{"name":"p","strict":true,"schema":{"type":"object","required":["city","population"],"properties":{"city":{"type":"string"},"population":{"type":"integer","minimum":1000,"maximum":5000}}}}})");
  auto v = json::parse(sch["choices"][0]["message"]["content"].get<std::string>());
  EXPECT_TRUE(v["city"].is_string());
  EXPECT_GE(v["population"].get<int>(), 1000);
  EXPECT_LE(v["population"].get<int>(), 5000);
}

TEST(Sim, ToolCallsWithConformingArguments) {
  auto sim = start_sim();
  const std::string tools = R"("tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","required":["city","unit"],"properties":{"city":{"type":"string"},"unit":{"enum":["c","f"]}}}}}])";
  auto j = chat(sim->port(), "m", tools + R"(,"tool_choice":"required")");
  const auto& c = j["choices"][0];
  EXPECT_EQ(c["finish_reason"], "tool_calls");
  EXPECT_TRUE(c["message"]["content"].is_null());
  const auto& call = c["message"]["tool_calls"][0];
  EXPECT_EQ(call["function"]["name"], "get_weather");
  auto args = json::parse(call["function"]["arguments"].get<std::string>());
  EXPECT_TRUE(args["city"].is_string());
  EXPECT_TRUE(args["unit"] == "c" || args["unit"] == "f");
  auto none = chat(sim->port(), "m", tools + R"(,"tool_choice":"none")");
  EXPECT_EQ(none["choices"][0]["finish_reason"], "stop");

  auto s = read_sse(sim->port(), chat_body("m", tools + R"(,"tool_choice":"required","stream":true)"));
  ASSERT_TRUE(s.complete);
  std::string streamed;
  for (const auto& e : s.events) {
    if (e == "[DONE]") continue;
    auto d = json::parse(e)["choices"][0]["delta"];
    if (d.contains("tool_calls")) streamed += d["tool_calls"][0]["function"].value("arguments", "");
  }
  EXPECT_TRUE(json::parse(streamed).contains("city")) << streamed;
}

TEST(Sim, WrongTypesAre400NotDroppedConnections) {
  auto sim = start_sim();
  for (const char* extra : {R"("logprobs":"yes")", R"("top_logprobs":1000)", R"("n":0)",
                            R"("response_format":"x")", R"("stream":"true")",
                            R"("tools":[{"type":"function","function":{"name":5}}],"tool_choice":"required")"}) {
    auto r = post_json(sim->port(), "/v1/chat/completions", chat_body("m", extra));
    EXPECT_EQ(r.status, 400) << extra << ": " << r.body;
    EXPECT_EQ(json::parse(r.body)["error"]["type"], "invalid_request_error") << extra;
  }
}

TEST(Sim, ToolLoopsEndAfterAToolResult) {
  auto sim = start_sim();
  const json tools = json::parse(R"([{"type":"function","function":{"name":"lookup","parameters":{"type":"object","properties":{"q":{"type":"string"}}}}}])");
  json first = {{"model", "m"}, {"tools", tools}, {"tool_choice", "auto"},
                {"messages", {{{"role", "user"}, {"content", "please lookup the answer"}}}}};
  auto a = json::parse(post_json(sim->port(), "/v1/chat/completions", first.dump()).body);
  ASSERT_EQ(a["choices"][0]["finish_reason"], "tool_calls");  // the prompt names the tool
  const auto call = a["choices"][0]["message"]["tool_calls"][0];
  json second = first;
  second["messages"].push_back(a["choices"][0]["message"]);
  second["messages"].push_back({{"role", "tool"}, {"tool_call_id", call["id"]}, {"content", "42"}});
  auto b = json::parse(post_json(sim->port(), "/v1/chat/completions", second.dump()).body);
  EXPECT_EQ(b["choices"][0]["finish_reason"], "stop");
  EXPECT_TRUE(b["choices"][0]["message"]["content"].is_string());
  // A named function is forced, and OpenAI reports that as "stop".
  json named = first;
  named["tool_choice"] = {{"type", "function"}, {"function", {{"name", "lookup"}}}};
  auto c = json::parse(post_json(sim->port(), "/v1/chat/completions", named.dump()).body);
  EXPECT_EQ(c["choices"][0]["finish_reason"], "stop");
  EXPECT_EQ(c["choices"][0]["message"]["tool_calls"][0]["function"]["name"], "lookup");
}

TEST(Sim, LogprobsPerToken) {
  auto sim = start_sim();
  auto j = chat(sim->port(), "m;tokens=6", R"("logprobs":true,"top_logprobs":2)");
  const auto& content = j["choices"][0]["logprobs"]["content"];
  ASSERT_EQ(content.size(), 6u);
  for (const auto& t : content) {
    EXPECT_LE(t["logprob"].get<double>(), 0.0);
    EXPECT_EQ(t["top_logprobs"].size(), 2u);
  }
}

TEST(Sim, EmbeddingsFloatAndBase64) {
  TempDir dir;
  auto sim = sim_with(fleet_from(dir, "models:\n  - name: e\n    kind: embedding\n    dims: 64\n    ttft_ms: {median: 0}\n"));
  auto f = json::parse(post_json(sim->port(), "/v1/embeddings", R"({"model":"e","input":["abc","abd"]})").body);
  ASSERT_EQ(f["data"].size(), 2u);
  EXPECT_EQ(f["data"][0]["embedding"].size(), 64u);
  auto b = json::parse(post_json(sim->port(), "/v1/embeddings", R"({"model":"e","input":"abc","encoding_format":"base64","dimensions":16})").body);
  EXPECT_EQ(b["data"][0]["embedding"].get<std::string>().size(), 88u);  // 64 bytes, base64
  auto again = json::parse(post_json(sim->port(), "/v1/embeddings", R"({"model":"e","input":["abc"]})").body);
  EXPECT_EQ(again["data"][0]["embedding"], f["data"][0]["embedding"]);
  auto models = json::parse(http_request(sim->port(), "GET", "/v1/models").body);
  EXPECT_EQ(models["data"][0]["id"], "e");
}

// The issue's acceptance check: "always the strongest model" through the gateway reproduces the
// dataset's own figure (0.879 for gpt-4-1106-preview on routerbench's test split).
TEST(Replay, RouterbenchStrongestModelQualityMatchesDataset) {
  const std::string path = SWITCHYARD_SOURCE_DIR "/../shared/data/routerbench.jsonl";
  if (!std::filesystem::exists(path)) GTEST_SKIP() << path << " not present";
  auto ds = sim::Dataset::load(path, "test");
  ASSERT_TRUE(ds) << ds.error().message;
  auto fleet = std::make_shared<sim::Fleet>();
  fleet->dataset = *ds;
  fleet->time_scale = 1e-6;  // answers at once; latency is not what this checks
  ASSERT_TRUE(sim::add_dataset_models(*fleet, {}));
  auto sim = sim_with(fleet);
  GatewayUnderTest gw(fmt::format(R"(upstreams:
  - name: sim
    base_url: http://127.0.0.1:{}/v1
    models:
      - name: gpt-4-1106-preview
)",
                                  sim->port()));
  std::ifstream in(path);
  std::string line;
  double quality = 0, expected = 0;
  int n = 0;
  while (std::getline(in, line)) {
    auto d = json::parse(line);
    if (d["split"] != "test") continue;
    json body = {{"model", "gpt-4-1106-preview"}, {"messages", d["messages"]}};
    auto r = post_json(gw.port(), "/v1/chat/completions", body.dump());
    ASSERT_EQ(r.status, 200) << r.body;
    quality += std::stod(r.header("x-sim-quality"));
    expected += d["outcomes"]["gpt-4-1106-preview"]["quality"].get<double>();
    ++n;
  }
  ASSERT_EQ(n, 945);
  EXPECT_DOUBLE_EQ(quality / n, expected / n);
  EXPECT_NEAR(quality / n, 0.879, 0.0005);
}

// docs/sim.md quotes the correlation this prints: confidence (mean token logprob) against the
// recorded quality, for a model whose answers are right about three times in four.
TEST(Replay, LogprobConfidenceCorrelatesWithRecordedQuality) {
  const std::string path = SWITCHYARD_SOURCE_DIR "/../shared/data/routerbench.jsonl";
  if (!std::filesystem::exists(path)) GTEST_SKIP() << path << " not present";
  auto ds = sim::Dataset::load(path, "test");
  ASSERT_TRUE(ds);
  auto fleet = std::make_shared<sim::Fleet>();
  fleet->dataset = *ds;
  fleet->time_scale = 1e-6;
  ASSERT_TRUE(sim::add_dataset_models(*fleet, {}));
  auto sim = sim_with(fleet);
  std::ifstream in(path);
  std::string line;
  std::vector<double> conf, qual;
  while (std::getline(in, line)) {
    auto d = json::parse(line);
    if (d["split"] != "test") continue;
    json body = {{"model", "gpt-3.5-turbo-1106"}, {"messages", d["messages"]}, {"logprobs", true}};
    auto r = post_json(sim->port(), "/v1/chat/completions", body.dump());
    ASSERT_EQ(r.status, 200);
    auto lps = json::parse(r.body)["choices"][0]["logprobs"]["content"];
    double sum = 0;
    for (const auto& t : lps) sum += t["logprob"].get<double>();
    conf.push_back(lps.empty() ? 0 : sum / lps.size());
    qual.push_back(std::stod(r.header("x-sim-quality")));
  }
  auto mean = [](const std::vector<double>& v) { return std::accumulate(v.begin(), v.end(), 0.0) / v.size(); };
  const double mc = mean(conf), mq = mean(qual);
  double cov = 0, vc = 0, vq = 0;
  for (std::size_t i = 0; i < conf.size(); ++i) {
    cov += (conf[i] - mc) * (qual[i] - mq);
    vc += (conf[i] - mc) * (conf[i] - mc);
    vq += (qual[i] - mq) * (qual[i] - mq);
  }
  const double r = cov / std::sqrt(vc * vq);
  std::cout << "Pearson r(mean token logprob, quality) over " << conf.size()
            << " routerbench test prompts, gpt-3.5-turbo-1106: " << r << "\n";
  EXPECT_GT(r, 0.3);
  EXPECT_LT(r, 0.8);  // informative, not an oracle
}

TEST(Sim, UnknownOrMalformedDirectivesAreA400) {
  auto sim = start_sim();
  for (const char* model : {"sim-nano;stal_after=2", "sim-nano;tokens=x", "sim-nano;reset=1"}) {
    HttpResponse r;
    auto j = chat(sim->port(), model, {}, {}, &r);
    EXPECT_EQ(r.status, 400) << model;
    EXPECT_NE(j["error"]["message"].get<std::string>().find("sim directive"), std::string::npos);
  }
  HttpResponse r;
  chat(sim->port(), "sim-nano", {}, {{"x-sim-fault", "delay_ms=1, garbag"}}, &r);
  EXPECT_EQ(r.status, 400) << r.body;
  chat(sim->port(), "sim-nano;tokens=3;", {}, {{"x-sim-fault", "delay_ms=1, "}}, &r);
  EXPECT_EQ(r.status, 200) << r.body;
}

}  // namespace
}  // namespace switchyard::test

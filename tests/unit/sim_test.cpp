// The simulated fleet's building blocks: distributions, generated content, datasets, config.
#include "sim/fleet.hpp"
#include "sim/generate.hpp"
#include "support/fixture.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <functional>

namespace switchyard::sim {
namespace {

using json = nlohmann::json;

TEST(LogNormal, SampleMeanMatchesTheory) {
  std::mt19937_64 rng(42);
  for (auto d : {LogNormal{200, 0.3}, LogNormal{45, 0.25}, LogNormal{1000, 0.8}}) {
    double sum = 0;
    constexpr int n = 200'000;
    for (int i = 0; i < n; ++i) sum += d.sample(rng);
    EXPECT_NEAR(sum / n, d.mean(), d.mean() * 0.01) << d.median << "/" << d.sigma;
  }
  EXPECT_DOUBLE_EQ((LogNormal{7, 0}.sample(rng)), 7.0);
}

TEST(Quality, SimulatedQualityAveragesToSkillAndFavoursStrongModels) {
  SimModel weak, strong;
  weak.name = "weak";
  weak.skill = 0.5;
  strong.name = "strong";
  strong.skill = 0.85;
  double w = 0, s = 0;
  int strong_only = 0, weak_only = 0;
  constexpr int n = 20'000;
  for (int i = 0; i < n; ++i) {
    auto prompt = "prompt number " + std::to_string(i);
    double qw = simulated_quality(weak, prompt), qs = simulated_quality(strong, prompt);
    w += qw;
    s += qs;
    strong_only += qs > qw;
    weak_only += qw > qs;
  }
  EXPECT_NEAR(w / n, 0.5, 0.02);
  EXPECT_NEAR(s / n, 0.85, 0.02);
  EXPECT_GT(strong_only, 3 * weak_only);
  EXPECT_EQ(simulated_quality(weak, "same"), simulated_quality(weak, "same"));
}

TEST(Quality, LogprobConfidenceTracksQuality) {
  std::mt19937_64 rng(7);
  double good = 0, bad = 0;
  for (int i = 0; i < 2000; ++i) {
    for (double lp : token_logprobs(1.0, 5, rng)) good += lp;
    for (double lp : token_logprobs(0.0, 5, rng)) bad += lp;
  }
  EXPECT_GT(good / 10000, bad / 10000 + 0.4);  // mean log-probability clearly higher
  for (double lp : token_logprobs(0.5, 100, rng)) EXPECT_LE(lp, 0.0);
}

// A small validator for the schema features instance_of claims to honour.
bool conforms(const json& v, const json& s, const json& root) {
  if (s.contains("$ref")) {
    auto name = s["$ref"].get<std::string>().substr(8);  // "#/$defs/"
    return conforms(v, root["$defs"][name], root);
  }
  if (s.contains("const")) return v == s["const"];
  if (s.contains("enum")) return std::find(s["enum"].begin(), s["enum"].end(), v) != s["enum"].end();
  if (s.contains("anyOf")) return conforms(v, s["anyOf"][0], root);
  auto type = s.value("type", "");
  if (type == "object") {
    if (!v.is_object()) return false;
    for (const auto& r : s.value("required", json::array()))
      if (!v.contains(r.get<std::string>())) return false;
    for (auto it = s["properties"].begin(); it != s["properties"].end(); ++it)
      if (v.contains(it.key()) && !conforms(v[it.key()], it.value(), root)) return false;
    return true;
  }
  if (type == "array") {
    if (!v.is_array() || v.size() < s.value("minItems", 0u) || v.size() > s.value("maxItems", 99u))
      return false;
    for (const auto& x : v)
      if (!conforms(x, s["items"], root)) return false;
    return true;
  }
  if (type == "integer")
    return v.is_number_integer() && v.get<double>() >= s.value("minimum", -1e18) &&
           v.get<double>() <= s.value("maximum", 1e18);
  if (type == "number")
    return v.is_number() && v.get<double>() >= s.value("minimum", -1e18) &&
           v.get<double>() <= s.value("maximum", 1e18);
  if (type == "string")
    return v.is_string() && v.get<std::string>().size() >= s.value("minLength", 0u) &&
           v.get<std::string>().size() <= s.value("maxLength", 1u << 20);
  if (type == "boolean") return v.is_boolean();
  return true;
}

TEST(Schema, InstancesConform) {
  const json schema = json::parse(R"({
    "type": "object",
    "required": ["name", "age", "tags", "kind", "address"],
    "properties": {
      "name": {"type": "string", "minLength": 3, "maxLength": 12},
      "age": {"type": "integer", "minimum": 18, "maximum": 99},
      "score": {"type": "number", "minimum": 0.5, "maximum": 0.75},
      "tags": {"type": "array", "items": {"type": "string"}, "minItems": 2, "maxItems": 4},
      "kind": {"enum": ["a", "b", "c"]},
      "fixed": {"const": 42},
      "ok": {"type": "boolean"},
      "maybe": {"anyOf": [{"type": "integer", "minimum": 1, "maximum": 3}, {"type": "null"}]},
      "address": {"$ref": "#/$defs/address"}
    },
    "$defs": {"address": {"type": "object", "required": ["city"],
                          "properties": {"city": {"type": "string"}}}}
  })");
  for (std::uint64_t seed = 0; seed < 200; ++seed) {
    std::mt19937_64 rng(seed);
    auto v = instance_of(schema, rng, schema);
    ASSERT_TRUE(conforms(v, schema, schema)) << v.dump();
  }
}

TEST(Schema, RecursiveAndHostileSchemasStayBounded) {
  const json tree = json::parse(R"({"type":"object","required":["name","children"],
    "properties":{"name":{"type":"string"},"children":{"type":"array","items":{"$ref":"#"}}}})");
  std::function<bool(const json&)> valid = [&](const json& n) {
    if (!n.is_object() || !n["name"].is_string() || !n["children"].is_array()) return false;
    for (const auto& c : n["children"])
      if (!valid(c)) return false;
    return true;
  };
  for (std::uint64_t seed = 0; seed < 20; ++seed) {
    std::mt19937_64 rng(seed);
    EXPECT_TRUE(valid(instance_of(tree, rng, tree)));
  }
  const json hostile = json::parse(R"({"type":"object","properties":{
    "s":{"type":"string","minLength":99999999},
    "a":{"type":"array","minItems":99999999,"items":{"type":"integer","minimum":-9e18,"maximum":9e18}}}})");
  std::mt19937_64 rng(1);
  auto v = instance_of(hostile, rng, hostile);
  EXPECT_LE(v["s"].get<std::string>().size(), 4200u);
  EXPECT_LE(v["a"].size(), 32u);
  // Items that refer back to their array, 32 a level: 32^16 values, had each level its due.
  const json explode = json::parse(R"({"type":"array","minItems":32,"items":{"$ref":"#"}})");
  std::function<std::size_t(const json&)> values = [&](const json& n) {
    std::size_t count = 1;
    if (n.is_structured())
      for (const auto& c : n) count += values(c);
    return count;
  };
  EXPECT_LE(values(instance_of(explode, rng, explode)), 10000u);
  // The same with a large const at the leaves, and with many properties.
  json copies = json::parse(R"({"type":"array","minItems":32,"items":{"type":"array",
    "minItems":32,"items":{"$ref":"#/$defs/c"}},"$defs":{}})");
  copies["$defs"]["c"]["const"] = json::array();
  for (int i = 0; i < 1000; ++i) copies["$defs"]["c"]["const"].push_back(i);
  EXPECT_LE(values(instance_of(copies, rng, copies)), 10000u);
  json wide = json::parse(R"({"type":"object","properties":{}})");
  for (int i = 0; i < 20000; ++i) wide["properties"][std::to_string(i)] = {{"type", "integer"}};
  EXPECT_LE(values(instance_of(wide, rng, wide)), 10000u);
  // Bounds no integer a JSON parser reads exactly can meet: clamped, not converted out of range.
  const json huge = json::parse(R"({"type":"integer","minimum":1e300})");
  EXPECT_EQ(instance_of(huge, rng, huge), 9000000000000000);
  const json tiny = json::parse(R"({"type":"integer","minimum":-1e300,"maximum":-1e300})");
  EXPECT_EQ(instance_of(tiny, rng, tiny), -9000000000000000);
}

TEST(Embeddings, DeterministicUnitVectorsSimilarForSimilarText) {
  auto a = embed("the quick brown fox jumps over the lazy dog", 256);
  auto b = embed("the quick brown fox jumped over the lazy dog", 256);
  auto c = embed("quarterly revenue grew by eleven percent", 256);
  auto dot = [](const std::vector<float>& x, const std::vector<float>& y) {
    double d = 0;
    for (std::size_t i = 0; i < x.size(); ++i) d += static_cast<double>(x[i]) * y[i];
    return d;
  };
  EXPECT_NEAR(dot(a, a), 1.0, 1e-5);
  EXPECT_EQ(a, embed("the quick brown fox jumps over the lazy dog", 256));
  EXPECT_GT(dot(a, b), 0.8);
  EXPECT_LT(std::abs(dot(a, c)), 0.4);
  EXPECT_EQ(base64_floats({1.0f}), "AACAPw==");  // 0x3f800000 little-endian
}

TEST(Dataset, LoadsSplitsAndReportsBadLines) {
  test::TempDir dir;
  auto path = dir.write("d.jsonl",
                        R"({"id":"a","split":"train","messages":[{"role":"user","content":"Q1"}],"outcomes":{"m1":{"quality":1,"cost_usd":0.1,"output_tokens":3,"response":"yes"}}})"
                        "\n"
                        R"({"id":"b","split":"test","messages":[{"role":"user","content":"Q2"}],"outcomes":{"m1":{"quality":0,"response":"no"},"m2":{"quality":1}}})"
                        "\n");
  auto all = Dataset::load(path, "");
  ASSERT_TRUE(all) << all.error().message;
  EXPECT_EQ((*all)->size(), 2u);
  EXPECT_EQ((*all)->models(), (std::vector<std::string>{"m1", "m2"}));
  EXPECT_EQ((*all)->find("Q1")->outcomes.at("m1").response, "yes");
  auto test_only = Dataset::load(path, "test");
  ASSERT_TRUE(test_only);
  EXPECT_EQ((*test_only)->size(), 1u);
  EXPECT_EQ((*test_only)->find("Q1"), nullptr);

  auto bad = dir.write("bad.jsonl", "{\"messages\":[]}\n");
  auto r = Dataset::load(bad, "");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("bad.jsonl:1: messages"), std::string::npos) << r.error().message;
}

TEST(FleetConfig, ShippedFleetLoadsAndErrorsNameThePath) {
  auto f = load_fleet(SWITCHYARD_SOURCE_DIR "/config/sim-fleet.yaml");
  ASSERT_TRUE(f) << f.error().message;
  ASSERT_NE((*f)->find("sim-large"), nullptr);
  EXPECT_EQ((*f)->find("nope"), nullptr);
  EXPECT_TRUE((*f)->find("sim-embed")->embedding);

  test::TempDir dir;
  auto bad = dir.write("f.yaml", "models:\n  - name: a\n    ttft_ms: {median: 10, sigm: 1}\n");
  auto r = load_fleet(bad);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("models[0].ttft_ms.sigm: unknown key"), std::string::npos)
      << r.error().message;
  auto ep = dir.write("e.yaml",
                      "models:\n  - name: a\n    episodes:\n      - {type: flood, start_s: 1, end_s: 2}\n");
  auto r2 = load_fleet(ep);
  ASSERT_FALSE(r2);
  EXPECT_NE(r2.error().message.find("models[0].episodes[0].type"), std::string::npos);
}

TEST(Fleet, ACatalogueEntryThatIsNotAnObjectDescribesNothing) {
  test::TempDir dir;
  auto data = Dataset::load(
      dir.write("d.jsonl", R"({"messages":[{"role":"user","content":"q"}],"outcomes":)"
                           R"({"odd":{"quality":1},"priced":{"quality":1}}})" "\n"),
      "");
  ASSERT_TRUE(data) << data.error().message;
  Fleet fleet;
  fleet.dataset = *data;
  const auto catalogue = dir.write(
      "models.json", R"({"models":{"odd":5,"priced":{"price_usd_per_mtok":[1.5,2]}}})");
  ASSERT_TRUE(add_dataset_models(fleet, catalogue));  // no type_error out of the loader
  ASSERT_NE(fleet.find("odd"), nullptr);
  EXPECT_EQ(fleet.find("odd")->price.input, 0);
  ASSERT_NE(fleet.find("priced"), nullptr);
  EXPECT_EQ(fleet.find("priced")->price.input, 1.5);
  EXPECT_EQ(fleet.find("priced")->price.output, 2);
}

}  // namespace
}  // namespace switchyard::sim

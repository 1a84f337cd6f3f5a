#include "config/yaml_map.hpp"
#include "core/sha256.hpp"
#include "metrics/metrics.hpp"
#include "router/snapshot.hpp"
#include "switchyard/config.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>

#include <unistd.h>

namespace switchyard {
namespace {

const char* kValid = R"(
server:
  listen: 127.0.0.1:9999
upstreams:
  - name: a
    base_url: http://127.0.0.1:1/v1
    models:
      - name: small
        price_usd_per_mtok: {input: 0.5, output: 1.5}
  - name: b
    base_url: https://example.com/v1
    models:
      - name: small
      - name: large
routes:
  auto:
    stages:
      - type: static
        models: [small, large]
)";

// kValid with `line` added to upstream "a", before its models.
std::string with_upstream_line(const std::string& line) {
  std::string y = kValid;
  y.replace(y.find("    models:"), 0, "    " + line + "\n");
  return y;
}

std::string error_of(const std::string& yaml) {
  auto r = parse_config(yaml, "t.yaml");
  if (!r.config) return r.error;
  Metrics metrics;
  auto b = build_snapshot(std::move(*r.config), metrics);
  return b.error;
}

TEST(Config, ValidConfigBuildsSnapshot) {
  auto r = parse_config(kValid, "t.yaml");
  ASSERT_TRUE(r.config) << r.error;
  EXPECT_EQ(r.config->server.listen, "127.0.0.1:9999");
  EXPECT_EQ(r.config->upstreams[0].models[0].id, "small");  // id defaults to name
  EXPECT_DOUBLE_EQ(r.config->upstreams[0].models[0].price_usd_per_mtok.output, 1.5);
  Metrics metrics;
  auto b = build_snapshot(std::move(*r.config), metrics);
  ASSERT_TRUE(b.snapshot) << b.error;
  EXPECT_EQ(b.snapshot->models.at("small").size(), 2u);  // both upstreams, in config order
  EXPECT_EQ(b.snapshot->models.at("small")[0]->upstream_config->name, "a");
  ASSERT_TRUE(b.snapshot->routes.count("auto"));
  EXPECT_EQ(b.snapshot->model_list, "small, large, auto");
}

TEST(Config, UnknownKeyNamesItsPath) {
  std::string y = kValid;
  y.replace(y.find("        price_usd_per_mtok: {input: 0.5, output: 1.5}"), 0,
            "        prize: 3\n");
  EXPECT_EQ(error_of(y), "upstreams[0].models[0].prize: unknown key");
}

TEST(Config, BadTypeNamesItsPath) {
  std::string y = kValid;
  y.replace(y.find("{input: 0.5, output: 1.5}"), 25, "cheap");
  EXPECT_EQ(error_of(y),
            "upstreams[0].models[0].price_usd_per_mtok: expected a mapping with input and output");
  std::string z = kValid;
  z.replace(z.find("output: 1.5"), 11, "output: lots");
  EXPECT_EQ(error_of(z),
            "upstreams[0].models[0].price_usd_per_mtok.output: expected a non-negative number, "
            "got \"lots\"");
}

TEST(Config, DanglingModelReferenceNamesItsPath) {
  std::string y = kValid;
  y.replace(y.find("[small, large]"), 14, "[small, huge]");
  auto e = error_of(y);
  EXPECT_EQ(e.rfind("routes.auto.stages[0].models[1]: unknown model \"huge\"", 0), 0u) << e;
}

TEST(Config, UnknownStageTypeNamesItsPath) {
  std::string y = kValid;
  y.replace(y.find("type: static"), 12, "type: clasifier");
  auto e = error_of(y);
  EXPECT_EQ(e.rfind("routes.auto.stages[0]: unknown stage type \"clasifier\"", 0), 0u) << e;
}

TEST(Config, EnvReferencesExpandAndMissingOnesFail) {
  ::setenv("SWITCHYARD_TEST_KEY", "sk-from-env", 1);
  std::string y = kValid;
  y.replace(y.find("    models:"), 0, "    api_key: ${SWITCHYARD_TEST_KEY}\n");
  auto r = parse_config(y, "t.yaml");
  ASSERT_TRUE(r.config) << r.error;
  EXPECT_EQ(r.config->upstreams[0].api_key, "sk-from-env");

  std::string missing = kValid;
  missing.replace(missing.find("    models:"), 0, "    api_key: ${SWITCHYARD_TEST_UNSET_VAR}\n");
  EXPECT_EQ(error_of(missing),
            "upstreams[0].api_key: environment variable SWITCHYARD_TEST_UNSET_VAR is not set");
  std::string def = kValid;
  def.replace(def.find("127.0.0.1:9999"), 14, "${SWITCHYARD_TEST_UNSET_VAR:-127.0.0.1:7}");
  auto d = parse_config(def, "t.yaml");
  ASSERT_TRUE(d.config) << d.error;
  EXPECT_EQ(d.config->server.listen, "127.0.0.1:7");
}

TEST(Config, LiteralSecretsAreRejected) {
  std::string y = kValid;
  y.replace(y.find("    models:"), 0, "    api_key: sk-live-abc\n");
  EXPECT_EQ(error_of(y), "upstreams[0].api_key: must be an ${ENV} reference, not a literal secret");
}

TEST(Config, StructuralErrors) {
  EXPECT_EQ(error_of(""), "(root): the file is empty");
  EXPECT_EQ(error_of("upstreams: []"), "upstreams: expected a non-empty list");
  std::string dup = kValid;
  dup += "  small:\n    stages: [{type: static, models: [large]}]\n";
  EXPECT_EQ(error_of(dup), "routes.small: route name collides with a model of the same name");
  std::string url = kValid;
  url.replace(url.find("http://127.0.0.1:1/v1"), 21, "ftp://x");
  EXPECT_EQ(error_of(url), "upstreams[0].base_url: must start with http:// or https://");
  std::string neg = kValid;
  neg.replace(neg.find("listen: 127.0.0.1:9999"), 22, "max_body_bytes: -5");
  EXPECT_EQ(error_of(neg), "server.max_body_bytes: expected a non-negative integer, got \"-5\"");
  // Quoted, stoull would skip the space and negate: 2^64 - 1.
  std::string spaced = kValid;
  spaced.replace(spaced.find("listen: 127.0.0.1:9999"), 22, "max_body_bytes: \" -1\"");
  EXPECT_EQ(error_of(spaced),
            "server.max_body_bytes: expected a non-negative integer, got \" -1\"");
  // A number must be finite: a NaN price would make every cost NaN, which no budget is charged.
  for (const std::string price : {"nan", "inf", "\" 1\""}) {
    std::string odd = kValid;
    odd.replace(odd.find("output: 1.5}"), 12, "output: " + price + "}");
    const std::string raw = price == "\" 1\"" ? " 1" : price;  // YAML unquotes it
    EXPECT_EQ(error_of(odd), "upstreams[0].models[0].price_usd_per_mtok.output: expected a "
                             "non-negative number, got \"" + raw + "\"");
  }
  auto e = error_of("upstreams: [ {name: a");
  EXPECT_EQ(e.rfind("(yaml) line 1", 0), 0u) << e;
}

TEST(Config, FileErrorsNameTheFile) {
  auto r = load_config_file("/nonexistent/switchyard.yaml");
  EXPECT_FALSE(r.config);
  EXPECT_EQ(r.error, "/nonexistent/switchyard.yaml: cannot open file");
}

// Issue 6: yaml-cpp keeps the first of two equal keys, so this turned client auth off.
TEST(Config, DuplicateKeyIsAnError) {
  ::setenv("SWITCHYARD_TEST_KEY", "sk-from-env", 1);
  const char* auth_off = R"(
server:
  api_keys: []
  listen: 127.0.0.1:9999
  api_keys:
    - ${SWITCHYARD_TEST_KEY}
upstreams:
  - name: a
    base_url: http://127.0.0.1:1/v1
    models: [{name: small}]
)";
  EXPECT_EQ(error_of(auth_off), "server.api_keys: duplicate key");

  std::string top = kValid;
  top += "server:\n  listen: 127.0.0.1:1\n";
  EXPECT_EQ(error_of(top), "server: duplicate key");

  std::string price = kValid;
  price.replace(price.find("output: 1.5}"), 12, "output: 1.5, input: 0}");
  EXPECT_EQ(error_of(price), "upstreams[0].models[0].price_usd_per_mtok.input: duplicate key");

  std::string route = kValid;
  route += "  auto:\n    stages: [{type: static, models: [small]}]\n";
  EXPECT_EQ(error_of(route), "routes.auto: duplicate key");
}

// Stage subtrees are read by their factories only when a snapshot is built; the load catches
// repeats in them anyway, and a Map refuses them whoever builds it.
TEST(Config, DuplicateKeyInsideStagesIsAnError) {
  std::string stage = kValid;
  stage.replace(stage.find("models: [small, large]"), 22,
                "models: [small, large]\n        models: [small]");
  EXPECT_EQ(error_of(stage), "routes.auto.stages[0].models: duplicate key");

  std::string dispatcher = kValid;
  dispatcher += "    dispatcher: {type: single, max_attempts: 1, max_attempts: 3}\n";
  EXPECT_EQ(error_of(dispatcher), "routes.auto.dispatcher.max_attempts: duplicate key");

  std::string deep = kValid;
  deep += "    dispatcher:\n      type: single\n      x: [{a: 1, b: [{c: 1, c: 2}]}]\n";
  EXPECT_EQ(error_of(deep), "routes.auto.dispatcher.x[0].b[0].c: duplicate key");

  std::string error;
  EXPECT_FALSE(read_guarded(error, [] { Map m(YAML::Load("a: 1\nb: 2\na: 3"), "fleet"); }));
  EXPECT_EQ(error, "fleet.a: duplicate key");

  EXPECT_EQ(error_of(std::string(kValid) + "? [a, b]\n: 1\n"),
            "(root): mapping keys must be strings");
}

TEST(Config, ServerApiKeyLiteralIsRejected) {
  std::string y = kValid;
  y.replace(y.find("  listen:"), 0, "  api_keys:\n    - sk-live-abc\n");
  EXPECT_EQ(error_of(y), "server.api_keys[0]: must be an ${ENV} reference, not a literal secret");

  ::setenv("SWITCHYARD_TEST_KEY", "sk-from-env", 1);
  std::string ok = kValid;
  ok.replace(ok.find("  listen:"), 0, "  api_keys:\n    - ${SWITCHYARD_TEST_KEY}\n");
  auto r = parse_config(ok, "t.yaml");
  ASSERT_TRUE(r.config) << r.error;
  ASSERT_EQ(r.config->clients.keys.size(), 1u);
  EXPECT_EQ(r.config->clients.keys[0].name, "api_keys[0]");
  EXPECT_EQ(r.config->clients.keys[0].key_sha256, sha256("sk-from-env"));  // never the key
}

// kValid with a `clients:` section.
std::string with_clients(const std::string& clients) { return kValid + ("clients:\n" + clients); }

TEST(Config, ClientKeysAreKeptAsHashes) {
  ::setenv("SWITCHYARD_TEST_TEAM_KEY", "sk-team", 1);
  auto r = parse_config(with_clients(R"(  keys:
    - name: team
      key: ${SWITCHYARD_TEST_TEAM_KEY}
      tier: premium
      routes: [auto]
      models: [small]
      requests_per_minute: 60
      tokens_per_minute: 100000
      budget_usd_per_day: 2.5
      budget_usd_per_month: 40
    - name: ci
      key_sha256: 9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08
)"),
                        "t.yaml");
  ASSERT_TRUE(r.config) << r.error;
  const auto& k = r.config->clients.keys;
  ASSERT_EQ(k.size(), 2u);
  EXPECT_EQ(k[0].key_sha256, sha256("sk-team"));
  EXPECT_EQ(k[0].tier, "premium");
  EXPECT_EQ(k[0].models, std::vector<std::string>{"small"});
  EXPECT_EQ(k[0].requests_per_minute, 60u);
  EXPECT_EQ(k[0].tokens_per_minute, 100000u);
  EXPECT_EQ(k[0].budget_usd_per_day, 2.5);
  EXPECT_EQ(k[0].budget_usd_per_month, 40);
  EXPECT_EQ(k[1].key_sha256, sha256("test"));  // sha256sum of "test", upper case
  EXPECT_EQ(k[1].tier, "standard");
}

TEST(Config, ClientKeyErrorsNameThePath) {
  const std::string hash = "key_sha256: " + std::string(64, 'a');
  EXPECT_EQ(error_of(with_clients("  keys:\n    - {name: x, key: sk-literal}\n")),
            "clients.keys[0].key: must be an ${ENV} reference, not a literal secret");
  EXPECT_EQ(error_of(with_clients("  keys:\n    - {name: x}\n")),
            "clients.keys[0]: needs exactly one of key and key_sha256");
  EXPECT_EQ(error_of(with_clients("  keys:\n    - {name: x, key_sha256: abc}\n")),
            "clients.keys[0].key_sha256: expected 64 hex digits (sha256sum of the key)");
  EXPECT_EQ(error_of(with_clients("  keys:\n    - {name: \"a b\", " + hash + "}\n")),
            "clients.keys[0].name: expected letters, digits and - _ . : @ / only");
  EXPECT_EQ(error_of(with_clients("  keys:\n    - {name: x, " + hash + ", routes: [nope]}\n")),
            "clients: key \"x\".routes: no route is called \"nope\"");
  EXPECT_EQ(error_of(with_clients("  keys:\n    - {name: x, " + hash + ", models: [huge]}\n")),
            "clients: key \"x\".models: no upstream serves \"huge\"");
  EXPECT_EQ(error_of(with_clients("  keys:\n    - {name: x, " + hash + "}\n    - {name: x, " +
                                  "key_sha256: " + std::string(64, 'b') + "}\n")),
            "clients: key \"x\": the name is used twice");
  EXPECT_EQ(error_of(with_clients("  keys:\n    - {name: x, " + hash + "}\n    - {name: y, " +
                                  hash + "}\n")),
            "clients: key \"y\": its key is also another entry's key");
  EXPECT_EQ(error_of(with_clients("  keys_file: /nonexistent/keys.yaml\n")),
            "clients.keys_file: cannot open \"/nonexistent/keys.yaml\"");
}

TEST(Config, LearningAndExperimentErrorsNameThePath) {
  auto with_route_line = [](const std::string& line) {
    std::string y = kValid;
    y.replace(y.find("    stages:"), 0, "    " + line + "\n");
    return y + "  other:\n    stages: [{type: static, models: [large]}]\n";
  };
  EXPECT_EQ(error_of(with_route_line("split: {arm: nope, percent: 10}")),
            "routes.auto.split.arm: no route is called \"nope\"");
  EXPECT_EQ(error_of(with_route_line("split: {arm: auto, percent: 10}")),
            "routes.auto.split.arm: an arm must be another route without a split");
  EXPECT_EQ(error_of(with_route_line("split: {arm: other, percent: 101}")),
            "routes.auto.split.percent: must be 0 to 100");
  EXPECT_EQ(error_of(with_route_line("split: {arm: other, percent: 10, by: ip}")),
            "routes.auto.split.by: expected key or session");
  EXPECT_EQ(error_of(with_route_line("split: {arm: other, percent: 10}")), "");
  EXPECT_EQ(error_of(std::string(kValid) + "decision_log: {path: x.jsonl, max_bytes: 10}\n"),
            "decision_log.max_bytes: must be at least 4096");
  EXPECT_EQ(error_of(std::string(kValid) + "decision_log: {path: /dev/null/x.jsonl}\n")
                .rfind("decision_log.path: cannot open \"/dev/null/x.jsonl\"", 0),
            0u);
  EXPECT_EQ(error_of(std::string(kValid) + "feedback: {half_life_s: 0}\n"),
            "feedback.half_life_s: must be greater than 0");
  EXPECT_EQ(error_of(std::string(kValid) + "feedback: {max_pending: 1000001}\n"),
            "feedback.max_pending: must be at most 1000000");
  EXPECT_EQ(error_of(std::string(kValid) + "feedback: {max_pending: 1000000}\n"), "");
  auto r = parse_config(std::string(kValid) + "decision_log: {path: d.jsonl}\n", "/etc/sy/sy.yaml");
  ASSERT_TRUE(r.config) << r.error;
  EXPECT_EQ(r.config->decision_log.path, "/etc/sy/d.jsonl");
}

TEST(Config, AKeysFileSitsBesideTheConfig) {
  const auto dir = std::filesystem::temp_directory_path() / ("switchyard-keys-" +
                                                             std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "keys.yaml") << "- {name: mounted, key: sk-mounted, tier: free}\n";
  auto r = parse_config(with_clients("  keys_file: keys.yaml\n"), (dir / "sy.yaml").string());
  std::ofstream(dir / "keys.yaml") << "- {name: mounted, key: sk-mounted, tiers: free}\n";
  auto bad = parse_config(with_clients("  keys_file: keys.yaml\n"), (dir / "sy.yaml").string());
  std::filesystem::remove_all(dir);
  ASSERT_TRUE(r.config) << r.error;
  ASSERT_EQ(r.config->clients.keys.size(), 1u);
  EXPECT_EQ(r.config->clients.keys[0].key_sha256, sha256("sk-mounted"));  // literal: a secret file
  EXPECT_EQ(r.config->clients.keys[0].tier, "free");
  EXPECT_EQ(r.config->clients.keys_file, (dir / "keys.yaml").string());
  EXPECT_EQ(bad.error, (dir / "keys.yaml").string() + "[0].tiers: unknown key");
}

TEST(Config, SecretMustBeExactlyOneEnvReference) {
  const std::string exactly_one =
      "must be exactly one ${VAR} reference, with no default and no other text";
  for (const char* raw : {"${UNSET:-sk-literal}", "${HOME}literal", "sk-${HOME}", "${HOME}${USER}",
                          "${1ABC}", "${}", "${A-B}", "\"${HOME} \""}) {
    EXPECT_EQ(error_of(with_upstream_line(std::string("api_key: ") + raw)),
              "upstreams[0].api_key: " + exactly_one)
        << raw;
    std::string y = kValid;
    y.replace(y.find("  listen:"), 0, std::string("  api_keys:\n    - ") + raw + "\n");
    EXPECT_EQ(error_of(y), "server.api_keys[0]: " + exactly_one) << raw;
  }
}

TEST(Config, TypeErrorsEchoTheRawReferenceNotTheSecret) {
  ::setenv("SWITCHYARD_TEST_SECRET", "sk-secret-123", 1);
  std::string integer = kValid;
  integer.replace(integer.find("listen: 127.0.0.1:9999"), 22, "workers: ${SWITCHYARD_TEST_SECRET}");
  EXPECT_EQ(error_of(integer),
            "server.workers: expected a non-negative integer, got \"${SWITCHYARD_TEST_SECRET}\"");
  std::string number = kValid;
  // Quoted: in a flow mapping, { and } would end a plain scalar.
  number.replace(number.find("output: 1.5"), 11, "output: \"${SWITCHYARD_TEST_SECRET}\"");
  EXPECT_EQ(error_of(number),
            "upstreams[0].models[0].price_usd_per_mtok.output: expected a non-negative number, "
            "got \"${SWITCHYARD_TEST_SECRET}\"");
  std::string name = kValid;
  name.replace(name.find("name: b"), 7, "name: ${SWITCHYARD_TEST_SECRET}");
  name.replace(name.find("name: a"), 7, "name: sk-secret-123");
  EXPECT_EQ(error_of(name), "upstreams[1].name: duplicate upstream \"${SWITCHYARD_TEST_SECRET}\"");
}

// The key becomes `Authorization: Bearer <key>`: CR/LF would add headers to upstream requests.
TEST(Config, SecretWithControlCharacterOrEmptyIsRejected) {
  for (const char* bad : {"sk-abc\r\nX-Injected: 1", "sk-abc\n", "sk-\tabc", "sk-\x7f"}) {
    ::setenv("SWITCHYARD_TEST_BAD_KEY", bad, 1);
    auto e = error_of(with_upstream_line("api_key: ${SWITCHYARD_TEST_BAD_KEY}"));
    EXPECT_EQ(e,
              "upstreams[0].api_key: environment variable SWITCHYARD_TEST_BAD_KEY contains a "
              "control character");
    EXPECT_EQ(e.find("sk-"), std::string::npos) << e;
    std::string y = kValid;
    y.replace(y.find("  listen:"), 0, "  api_keys:\n    - ${SWITCHYARD_TEST_BAD_KEY}\n");
    EXPECT_EQ(error_of(y),
              "server.api_keys[0]: environment variable SWITCHYARD_TEST_BAD_KEY "
              "contains a control character");
  }
  ::setenv("SWITCHYARD_TEST_BAD_KEY", "", 1);
  EXPECT_EQ(error_of(with_upstream_line("api_key: ${SWITCHYARD_TEST_BAD_KEY}")),
            "upstreams[0].api_key: environment variable SWITCHYARD_TEST_BAD_KEY is empty");
  ::unsetenv("SWITCHYARD_TEST_BAD_KEY");
  EXPECT_EQ(error_of(with_upstream_line("api_key: ${SWITCHYARD_TEST_BAD_KEY}")),
            "upstreams[0].api_key: environment variable SWITCHYARD_TEST_BAD_KEY is not set");
}

TEST(Config, FileOverOneMebibyteIsRefused) {
  const std::size_t cap = 1024 * 1024;
  std::string fits = kValid;
  fits += "#" + std::string(cap - fits.size() - 2, 'x') + "\n";
  ASSERT_EQ(fits.size(), cap);
  const std::string path = ::testing::TempDir() + "switchyard_config_size_test.yaml";
  std::ofstream(path, std::ios::binary) << fits;
  auto r = load_config_file(path);
  EXPECT_TRUE(r.config) << r.error;

  std::ofstream(path, std::ios::binary) << fits << "\n";
  r = load_config_file(path);
  EXPECT_FALSE(r.config);
  EXPECT_EQ(r.error, path + ": file is larger than 1048576 bytes");
  std::remove(path.c_str());
}

// "Billion laughs": aliases are shared nodes, so a few lines stand for 10^9 of them.
TEST(Config, AliasAmplificationIsRefused) {
  std::string laughs = "a: &a [x, x, x, x, x, x, x, x, x, x]\n";
  for (char c = 'b'; c <= 'i'; ++c) {
    std::string prev(1, static_cast<char>(c - 1));
    laughs += std::string(1, c) + ": &" + c + " [";
    for (int k = 0; k < 10; ++k) laughs += (k ? ", *" : "*") + prev;
    laughs += "]\n";
  }
  EXPECT_EQ(error_of(laughs), "(root): more than 100000 nodes once aliases are expanded");

  std::string text = "a: &a " + std::string(400 * 1024, 'x') + "\nb: [";
  for (int k = 0; k < 50; ++k) text += (k ? ", *a" : "*a");
  text += "]\n";
  EXPECT_EQ(error_of(text), "(root): more than 16777216 bytes of text once aliases are expanded");

  // Anchors used with sense still work.
  std::string shared = kValid;
  shared.replace(shared.find("{input: 0.5, output: 1.5}"), 25, "&p {input: 0.5, output: 1.5}");
  shared.replace(shared.find("      - name: large"), 0, "        price_usd_per_mtok: *p\n");
  EXPECT_EQ(error_of(shared), "");
}

TEST(Config, NestingTooDeepIsRefused) {
  std::string expected = "x";
  for (int i = 0; i < 64; ++i) expected += "[0]";
  expected += ": nesting too deep (more than 64 levels)";
  EXPECT_EQ(error_of(std::string(kValid) + "x: " + std::string(70, '[') + std::string(70, ']')),
            expected);
  // yaml-cpp lets an anchor refer to itself: an endless tree that YAML::Clone would recurse into.
  EXPECT_EQ(error_of(std::string(kValid) + "x: &a [*a]\n"), expected);
}

TEST(Config, ShippedDefaultIsValid) {
  auto r = load_config_file(SWITCHYARD_SOURCE_DIR "/config/switchyard.yaml");
  ASSERT_TRUE(r.config) << r.error;
  Metrics metrics;
  auto b = build_snapshot(std::move(*r.config), metrics);
  EXPECT_TRUE(b.snapshot) << b.error;
  EXPECT_EQ(b.snapshot->config.server.listen, "127.0.0.1:8080");
}

TEST(Config, ExamplesAreValid) {
  // All of config/examples but the learned ones, which name a model file `switchyard train`
  // writes first (their commands are in each file).
  std::set<std::string> checked;
  for (const auto& entry :
       std::filesystem::directory_iterator(SWITCHYARD_SOURCE_DIR "/config/examples")) {
    const auto path = entry.path().string();
    if (entry.path().extension() != ".yaml" || path.ends_with("-learned.yaml")) continue;
    auto r = load_config_file(path);
    ASSERT_TRUE(r.config) << r.error;
    Metrics metrics;
    auto b = build_snapshot(std::move(*r.config), metrics);
    EXPECT_TRUE(b.snapshot) << path << ": " << b.error;
    checked.insert(entry.path().filename().string());
  }
  // The ones the docs point to, each a use the scorer issue asked for.
  for (const char* name : {"cost-first.yaml", "latency-slo.yaml", "tiered-users.yaml",
                           "sticky-sessions.yaml", "budgets.yaml", "ab-experiment.yaml",
                           "routerbench-cascade.yaml", "routerbench.yaml", "alpacaeval.yaml"})
    EXPECT_TRUE(checked.count(name)) << name;
}

TEST(Config, NamesMustBeUtf8) {
  // Found by fuzz_config: an invalid name once threw from the /v1/models rendering and took the
  // process down on reload. Names become metric labels, JSON and log text.
  std::string y = kValid;
  y.replace(y.find("name: large"), 11, "name: l\xa0" "rge");
  EXPECT_EQ(error_of(y), "upstreams[1].models[1].name: is not valid UTF-8");
  std::string r = kValid;
  r.replace(r.find("  auto:"), 7, "  \xc0\xaf" "auto:");
  EXPECT_EQ(error_of(r), "routes: a key is not valid UTF-8");
  EXPECT_TRUE(is_utf8("caf\xc3\xa9 \xf0\x9f\x9a\x82"));
  EXPECT_FALSE(is_utf8("\xed\xa0\x80"));  // a surrogate
  EXPECT_FALSE(is_utf8("\xe0\x80\xaf"));  // overlong
  EXPECT_FALSE(is_utf8("\xf4\x90\x80\x80"));  // past U+10FFFF
}

}  // namespace
}  // namespace switchyard

#include "metrics/metrics.hpp"
#include "router/snapshot.hpp"
#include "switchyard/config.hpp"

#include <gtest/gtest.h>

#include <cstdlib>

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
  auto e = error_of("upstreams: [ {name: a");
  EXPECT_EQ(e.rfind("(yaml) line 1", 0), 0u) << e;
}

TEST(Config, FileErrorsNameTheFile) {
  auto r = load_config_file("/nonexistent/switchyard.yaml");
  EXPECT_FALSE(r.config);
  EXPECT_EQ(r.error, "/nonexistent/switchyard.yaml: cannot open file");
}

TEST(Config, ShippedDefaultIsValid) {
  auto r = load_config_file(SWITCHYARD_SOURCE_DIR "/config/switchyard.yaml");
  ASSERT_TRUE(r.config) << r.error;
  Metrics metrics;
  auto b = build_snapshot(std::move(*r.config), metrics);
  EXPECT_TRUE(b.snapshot) << b.error;
  EXPECT_EQ(b.snapshot->config.server.listen, "127.0.0.1:8080");
}

}  // namespace
}  // namespace switchyard

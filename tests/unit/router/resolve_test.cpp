// Deciding route, passthrough or 404 (router/resolve.hpp) on a snapshot built from YAML.
#include "api/request.hpp"
#include "metrics/metrics.hpp"
#include "router/resolve.hpp"
#include "router/snapshot.hpp"
#include "support/fakes.hpp"

#include <gtest/gtest.h>

namespace switchyard::test {
namespace {

std::shared_ptr<const Snapshot> snapshot(Metrics& metrics) {
  return snapshot_from_yaml(metrics, R"(
upstreams:
  - name: a
    base_url: http://127.0.0.1:1/v1
    models:
      - name: small
  - name: b
    base_url: http://127.0.0.1:1/v1
    models:
      - name: small
      - name: large
routes:
  auto:
    stages:
      - type: static
        models: [large, small]
)");
}

ApiRequest request(const std::string& model) {
  auto r = parse_api_request(Endpoint::chat_completions,
                             R"({"model":")" + model + R"(","messages":[{"role":"user"}]})");
  EXPECT_TRUE(r);
  return std::move(*r);
}

class Resolve : public ::testing::Test {
 protected:
  // Resolves a chat request for `model` on `s` (by default, the snapshot above).
  Result<const Dispatcher*> resolve_model(const std::string& model, const Snapshot* s = nullptr) {
    req_ = request(model);
    ctx_.emplace(s ? *s : *snap_, req_, ups_);
    return resolve(*ctx_);
  }

  Metrics metrics_;
  std::shared_ptr<const Snapshot> snap_ = snapshot(metrics_);
  ApiRequest req_;
  FakeUpstreams ups_;
  std::optional<RouteContext> ctx_;
};

TEST_F(Resolve, ARouteRunsItsStagesAndGivesItsDispatcher) {
  auto d = resolve_model("auto");
  ASSERT_TRUE(d);
  EXPECT_EQ(*d, snap_->routes.at("auto").dispatcher.get());
  EXPECT_EQ(ctx_->route, "auto");
  // The static stage's order: large (on b), then small on a and on b.
  ASSERT_EQ(ctx_->candidates.size(), 3u);
  EXPECT_EQ(ctx_->candidates[0]->model->name, "large");
  EXPECT_EQ(ctx_->candidates[1]->model->name, "small");
  EXPECT_EQ(ctx_->candidates[1]->upstream_config->name, "a");
  EXPECT_EQ(ctx_->candidates[2]->upstream_config->name, "b");
}

TEST_F(Resolve, AConcreteModelPassesThroughToEveryUpstreamServingIt) {
  auto d = resolve_model("small");
  ASSERT_TRUE(d);
  EXPECT_EQ(*d, snap_->passthrough.get());
  EXPECT_EQ(ctx_->route, "passthrough");
  EXPECT_EQ(ctx_->candidates, snap_->models.at("small"));
  EXPECT_EQ(ctx_->candidates.size(), 2u);
}

TEST_F(Resolve, AnUnknownModelIsA404ListingWhatExists) {
  auto d = resolve_model("huge");
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error().reason, Reason::not_found);
  EXPECT_EQ(d.error().status, 404);
  EXPECT_EQ(d.error().param, "model");
  EXPECT_EQ(d.error().message,
            "The model 'huge' does not exist. Available models and routes: small, large, auto.");
  EXPECT_TRUE(ctx_->route.empty());
  EXPECT_TRUE(ctx_->candidates.empty());
}

// A stage that refuses every request.
class Refuse final : public RouterStage {
 public:
  Result<void> apply(RouteContext&) const override {
    return make_error(Reason::bad_request, "refused");
  }
};

TEST_F(Resolve, AFailingStageFailsTheRequest) {
  Snapshot strict;
  CompiledRoute& route = strict.routes["strict"];
  route.name = "strict";
  route.stages.push_back(std::make_unique<Refuse>());
  auto d = resolve_model("strict", &strict);
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error().message, "refused");
  EXPECT_EQ(ctx_->route, "strict");
}

}  // namespace
}  // namespace switchyard::test

namespace switchyard::test {
namespace {

class ResolveForCaller : public Resolve {
 protected:
  // Resolves `model` for a caller that may use `routes` and `models` (empty: any).
  Result<const Dispatcher*> resolve_as(const std::string& model, std::vector<std::string> routes,
                                       std::vector<std::string> models) {
    routes_ = std::move(routes);
    models_ = std::move(models);
    req_ = request(model);
    ctx_.emplace(*snap_, req_, ups_);
    ctx_->caller.name = "team";
    if (!routes_.empty()) ctx_->caller.routes = &routes_;
    if (!models_.empty()) ctx_->caller.models = &models_;
    return resolve(*ctx_);
  }
  std::vector<std::string> names() const {
    std::vector<std::string> out;
    for (const auto* t : ctx_->candidates) out.push_back(t->model->name);
    return out;
  }
  std::vector<std::string> routes_, models_;
};

TEST_F(ResolveForCaller, ARouteTheKeyMayNotUseIs403) {
  auto r = resolve_as("auto", {"other"}, {});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().status, 403);
  EXPECT_EQ(r.error().message, "The key 'team' may not use the route 'auto'.");
  EXPECT_TRUE(resolve_as("auto", {"auto"}, {}));
  EXPECT_TRUE(resolve_as("small", {"auto"}, {}));  // routes do not restrict models
}

TEST_F(ResolveForCaller, OnlyTheModelsTheKeyMayUseStayCandidates) {
  ASSERT_TRUE(resolve_as("auto", {}, {"small"}));
  EXPECT_EQ(names(), (std::vector<std::string>{"small", "small"}));  // from a and b
  auto passthrough = resolve_as("large", {}, {"small"});
  ASSERT_FALSE(passthrough);
  EXPECT_EQ(passthrough.error().status, 403);
  EXPECT_EQ(passthrough.error().param, "model");
  ASSERT_TRUE(resolve_as("large", {}, {"large", "small"}));
  EXPECT_EQ(names(), std::vector<std::string>{"large"});
}

}  // namespace
}  // namespace switchyard::test

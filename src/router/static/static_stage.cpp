// `static`: the route's candidates are a fixed, ordered list of models; each model expands to
// every upstream serving it, in config order.
//
//   stages:
//     - type: static
//       models: [small, large]
#include "router/static/static_stage.hpp"

#include "config/yaml_map.hpp"

namespace switchyard {

namespace {

class StaticStage final : public RouterStage {
 public:
  explicit StaticStage(std::vector<const Target*> targets) : targets_(std::move(targets)) {}
  Result<void> apply(RouteContext& ctx) const override {
    ctx.candidates = targets_;
    return {};
  }

 private:
  std::vector<const Target*> targets_;
};

}  // namespace

Built<RouterStage> make_static_stage(const StageConfig& sc, BuildContext& ctx) {
  std::vector<const Target*> targets;
  std::string error;
  bool ok = read_guarded(error, [&] {
    Map m(*sc.node, sc.path);
    std::string type;
    std::vector<std::string> models;
    m.req("type", type);
    m.req("models", models);
    m.finish();
    if (models.empty()) fail(m.at("models"), "must list at least one model");
    for (std::size_t i = 0; i < models.size(); ++i) {
      auto t = ctx.targets_for(models[i]);
      if (t.empty())
        fail(m.at("models") + "[" + std::to_string(i) + "]",
             "unknown model \"" + models[i] + "\" (known: " + std::string(ctx.model_list()) + ")");
      targets.insert(targets.end(), t.begin(), t.end());
    }
  });
  if (!ok) return config_error(std::move(error));
  return std::make_unique<const StaticStage>(std::move(targets));
}

}  // namespace switchyard

// `learned`: orders the route's models by predicted quality less cost_weight times predicted
// cost, from a model trained by `switchyard train` (see learned_stage.cpp).
#pragma once

#include "switchyard/extension.hpp"

namespace switchyard {

Built<RouterStage> make_learned_stage(const StageConfig& config, BuildContext& ctx);

}  // namespace switchyard

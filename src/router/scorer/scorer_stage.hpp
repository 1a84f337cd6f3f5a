// `scorer`: orders the candidates an earlier stage chose by one utility that weighs what they
// predicted against what is happening now, and drops those a request's limits rule out (see
// scorer_stage.cpp).
#pragma once

#include "switchyard/extension.hpp"

namespace switchyard {

Built<RouterStage> make_scorer_stage(const StageConfig& config, BuildContext& ctx);

}  // namespace switchyard

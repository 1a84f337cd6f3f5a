// `bandit`: Thompson sampling over the candidates, learning from feedback (see bandit_stage.cpp).
#pragma once

#include "switchyard/extension.hpp"

namespace switchyard {

Built<RouterStage> make_bandit_stage(const StageConfig& config, BuildContext& ctx);

}  // namespace switchyard

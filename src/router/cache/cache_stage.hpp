// `cache`: answers a repeated deterministic request from memory (see cache_stage.cpp).
#pragma once

#include "switchyard/extension.hpp"

namespace switchyard {

Built<RouterStage> make_cache_stage(const StageConfig& config, BuildContext& ctx);

}  // namespace switchyard

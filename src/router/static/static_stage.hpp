// `static`: a fixed, ordered list of models (see static_stage.cpp).
#pragma once

#include "switchyard/extension.hpp"

namespace switchyard {

Built<RouterStage> make_static_stage(const StageConfig& config, BuildContext& ctx);

}  // namespace switchyard

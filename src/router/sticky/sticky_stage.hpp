// `sticky`: keeps a conversation on the model that answered it last (see sticky_stage.cpp).
#pragma once

#include "switchyard/extension.hpp"

namespace switchyard {

Built<RouterStage> make_sticky_stage(const StageConfig& config, BuildContext& ctx);

}  // namespace switchyard

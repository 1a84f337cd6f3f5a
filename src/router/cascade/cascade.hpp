// `cascade`: tiers of models from cheap to strong; an answer that fails its tier's quality gates
// escalates to the next tier (see cascade.cpp).
#pragma once

#include "switchyard/extension.hpp"

namespace switchyard {

Built<Dispatcher> make_cascade_dispatcher(const StageConfig& config, BuildContext& ctx);

}  // namespace switchyard

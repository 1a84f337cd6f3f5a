// `classifier`: rules over the request's features pick labels, and a table maps labels to
// candidate tiers (see classifier.cpp).
#pragma once

#include "switchyard/extension.hpp"

namespace switchyard {

Built<RouterStage> make_classifier_stage(const StageConfig& config, BuildContext& ctx);

}  // namespace switchyard

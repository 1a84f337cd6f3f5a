#pragma once

#include "router/snapshot.hpp"

namespace switchyard {

std::unique_ptr<const RouterStage> make_static_stage(const StageConfig& config, BuildContext& ctx,
                                                     std::string& error);

}  // namespace switchyard

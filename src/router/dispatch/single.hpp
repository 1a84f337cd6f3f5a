#pragma once

#include "router/snapshot.hpp"

namespace switchyard {

std::unique_ptr<const Dispatcher> make_single_dispatcher(const StageConfig& config,
                                                         BuildContext& ctx, std::string& error);

}  // namespace switchyard

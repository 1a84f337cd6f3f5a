// `single`: one candidate at a time, falling back while nothing has reached the client (see
// single.cpp).
#pragma once

#include "switchyard/extension.hpp"

namespace switchyard {

Built<Dispatcher> make_single_dispatcher(const StageConfig& config, BuildContext& ctx);

}  // namespace switchyard

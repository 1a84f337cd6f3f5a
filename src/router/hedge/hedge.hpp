// `hedge`: a second call when the first is slow to answer; the first answer wins (see hedge.cpp).
#pragma once

#include "switchyard/extension.hpp"

namespace switchyard {

Built<Dispatcher> make_hedge_dispatcher(const StageConfig& config, BuildContext& ctx);

}  // namespace switchyard

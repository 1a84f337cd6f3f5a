// `race`: several candidates at once; the first acceptable answer, the best of them, or the
// better model's if it comes in time wins, and the rest are cancelled (see race.cpp).
#pragma once

#include "switchyard/extension.hpp"

namespace switchyard {

Built<Dispatcher> make_race_dispatcher(const StageConfig& config, BuildContext& ctx);

}  // namespace switchyard

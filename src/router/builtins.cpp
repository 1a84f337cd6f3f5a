// The one place that knows every built-in stage and dispatcher.
#include "router/bandit/bandit_stage.hpp"
#include "router/cache/cache_stage.hpp"
#include "router/cascade/cascade.hpp"
#include "router/classify/classifier.hpp"
#include "router/hedge/hedge.hpp"
#include "router/learned/learned_stage.hpp"
#include "router/race/race.hpp"
#include "router/scorer/scorer_stage.hpp"
#include "router/single/single.hpp"
#include "router/snapshot.hpp"
#include "router/static/static_stage.hpp"
#include "router/sticky/sticky_stage.hpp"

#include <mutex>

namespace switchyard {

void register_builtins() {
  static std::once_flag once;
  std::call_once(once, [] {
    register_stage("bandit", make_bandit_stage);
    register_stage("cache", make_cache_stage);
    register_stage("static", make_static_stage);
    register_stage("classifier", make_classifier_stage);
    register_stage("learned", make_learned_stage);
    register_stage("scorer", make_scorer_stage);
    register_stage("sticky", make_sticky_stage);
    register_dispatcher("single", make_single_dispatcher);
    register_dispatcher("cascade", make_cascade_dispatcher);
    register_dispatcher("hedge", make_hedge_dispatcher);
    register_dispatcher("race", make_race_dispatcher);
  });
}

}  // namespace switchyard

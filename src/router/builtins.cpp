// The one place that knows every built-in stage and dispatcher.
#include "router/single/single.hpp"
#include "router/snapshot.hpp"
#include "router/static/static_stage.hpp"

#include <mutex>

namespace switchyard {

void register_builtins() {
  static std::once_flag once;
  std::call_once(once, [] {
    register_stage("static", make_static_stage);
    register_dispatcher("single", make_single_dispatcher);
  });
}

}  // namespace switchyard

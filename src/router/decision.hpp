// The routing decision (RouteContext::decision) as compact JSON, for the access log and the
// x-switchyard-decision header:
//
//   {"labels":[{"label":"code","confidence":0.9}],"tier":"code","fallback":false,
//    "candidates":[{"model":"m","upstream":"u","quality":0.81,"cost_usd":0.0001,"score":0.7}]}
//
// Members that are empty are left out.
#pragma once

#include "switchyard/router.hpp"

#include <nlohmann/json_fwd.hpp>

#include <string>

namespace switchyard {

nlohmann::json decision_object(const Decision& decision);  // the same, for a larger document
std::string decision_json(const Decision& decision);

}  // namespace switchyard

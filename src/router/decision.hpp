// The routing decision (RouteContext::decision) as compact JSON, for the access log and the
// x-switchyard-decision header:
//
//   {"labels":[{"label":"code","confidence":0.9}],"tier":"code","fallback":false,
//    "candidates":[{"model":"m","upstream":"u","quality":0.81,"cost_usd":0.0001,"score":0.7}]}
//
// Members that are empty are left out.
#pragma once

#include "switchyard/router.hpp"

#include <string>

namespace switchyard {

// The decision as one line of JSON, written by hand (a nlohmann document built only to be
// dumped cost 45k instructions a request on the full route); keys sorted, as nlohmann dumps
// them. A number that is not finite is null.
std::string decision_json(const Decision& decision);

}  // namespace switchyard

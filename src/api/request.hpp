#pragma once

#include "switchyard/router.hpp"

#include <string>

namespace switchyard {

// Parses and validates a client body once (no exceptions): a JSON object with a string `model`,
// the endpoint's required input (`messages`, `prompt` or `input`), and well-typed `stream` and
// `stream_options`. Errors name the offending param, as OpenAI does.
Result<ApiRequest> parse_api_request(Endpoint endpoint, const std::string& body);

}  // namespace switchyard

// The client's key, checked by every endpoint that needs one (the API and /v1/models).
#pragma once

#include <string_view>

namespace switchyard {

struct Snapshot;

// Whether `authorization` (the request's Authorization header) is "Bearer <key>" for one of
// server.api_keys; always true when none is configured. The scheme is case-insensitive, the
// key is not, and keys are compared in constant time. Pure: no I/O, no state.
bool authorized(const Snapshot& snap, std::string_view authorization);

}  // namespace switchyard

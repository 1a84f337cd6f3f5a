// The client's key, checked by every endpoint that needs one (the API and /v1/models).
#pragma once

#include "router/clients.hpp"
#include "switchyard/error.hpp"

#include <string_view>

namespace switchyard {

struct Snapshot;

// The client whose key `authorization` (the request's Authorization header) carries as
// "Bearer <key>"; nullptr when no keys are configured (anyone may call); a 401 otherwise. The
// scheme is case-insensitive, the key is not; the key is hashed (SHA-256) and the hash looked
// up, so its bytes are never compared. The Client points into `snap`. Pure: no I/O, no state.
Result<const Client*> identify(const Snapshot& snap, std::string_view authorization);

}  // namespace switchyard

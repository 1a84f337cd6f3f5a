// The admin and discovery endpoints: /healthz, /readyz, /metrics, /v1/models and
// /v1/models/{id}. Cheap answers from state the gateway already holds; no routing, no upstream.
#pragma once

#include "server/session_writer.hpp"

#include <string_view>

namespace switchyard {

struct ServerState;
struct Snapshot;

// Whether `path` (without its query string) is one of the endpoints serve_admin answers.
bool is_admin_path(std::string_view path);

// Answers a GET or HEAD of an admin `path` through `out`; the caller has checked the method.
// /v1/models needs the client's key (`authorization`); the health, readiness and metrics
// endpoints do not. Borrows everything for the duration of the call; completes on the worker's
// executor. Cancellation (the client hung up) ends the write, which `out` reports as broken.
Task<void> serve_admin(std::string_view path, ServerState& st, const Snapshot& snap,
                       SessionWriter& out, std::string_view authorization);

}  // namespace switchyard

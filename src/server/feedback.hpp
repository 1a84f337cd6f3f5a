// POST /v1/feedback: a client's judgement of an answer, by the x-request-id the gateway gave it:
//
//   {"request_id": "…", "score": 0.8}       a score from 0 (bad) to 1 (good), or
//   {"request_id": "…", "thumbs": "up"}     up (1) or down (0); optionally "comment": "…"
//
// The same key that made the request must send it (when keys are configured), once, within
// feedback.window_s of the request. It updates what the gateway believes of the model that
// answered, under the request's label (router/feedback.hpp: QualityBook), which the scorer and
// bandit stages read, counts it in switchyard_feedback_total and _score_total, and appends it to
// the decision log. Answers 200 {"object":"feedback","request_id":…,"score":…}; 400 for a body
// that is not such an object; 401 for a bad key; 404 when no request with that id awaits
// feedback from this key (unknown, expired, already rated).
#pragma once

#include "server/session_writer.hpp"

#include <string_view>

namespace switchyard {

struct ServerState;
struct Snapshot;

// Borrows everything for the call; completes on the worker's executor. Cancellation (the client
// hung up) ends the write; feedback already applied stays applied.
Task<void> serve_feedback(ServerState& st, const Snapshot& snap, SessionWriter& out,
                          std::string_view authorization, std::string_view body);

}  // namespace switchyard

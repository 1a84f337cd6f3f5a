// The lines of the decision log (config `decision_log`, core/jsonl_log.hpp), one JSON object
// each, read back by `switchyard train --from-log` and `switchyard eval --log`
// (offline/decision_log.hpp):
//
//   {"type":"decision","time":"2026-12-01T10:00:00.123Z","request_id":"…","client":"team-a",
//    "route":"auto","experiment":"auto","endpoint":"chat","stream":false,
//    "features":{"tokens":120,"messages":3,"user_turns":2,"images":false,"tools":false,
//                "json_output":false},
//    "decision":{…as x-switchyard-decision…},"candidates":["m@u",…],
//    "model":"m","upstream":"u","attempts":[{"model":"m","upstream":"u","status":200,
//    "ok":true,"latency_ms":812.5,"cost_usd":0.0004}],"status":200,"error":"",
//    "cache":"miss","cost_usd":0.0004,"latency_ms":815.1,"ttft_ms":-1,
//    "input_tokens":100,"output_tokens":50,"prompt":"…","system":"…"}
//   {"type":"feedback","time":"…","request_id":"…","client":"team-a","route":"auto",
//    "model":"m","upstream":"u","label":"code","score":1,"comment":"…"}
//
// `experiment` only when the route splits traffic; `prompt` and `system` only with
// decision_log.prompts; `candidates` lists the chain's final order.
#pragma once

#include "router/feedback.hpp"
#include "server/access_log.hpp"
#include "switchyard/router.hpp"

#include <string>
#include <string_view>

namespace switchyard {

std::string decision_line(const RouteContext& ctx, const AccessRecord& rec, bool prompts);
std::string feedback_line(std::string_view request_id, const FeedbackTicket& ticket,
                          double score, std::string_view comment);

}  // namespace switchyard

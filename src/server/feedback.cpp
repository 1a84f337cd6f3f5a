#include "server/feedback.hpp"

#include "core/clock.hpp"
#include "router/snapshot.hpp"
#include "server/auth.hpp"
#include "server/decision_log.hpp"
#include "server/gateway.hpp"

#include <nlohmann/json.hpp>

namespace switchyard {

namespace {

struct Feedback {
  std::string request_id;
  double score = 0;
  std::string comment;
};

Result<Feedback> parse_feedback(std::string_view body) {
  auto bad = [](std::string m, std::string param) {
    return make_error(Reason::bad_request, std::move(m), std::move(param));
  };
  const auto j = nlohmann::json::parse(body, nullptr, false);
  if (!j.is_object())
    return bad("The body must be a JSON object with request_id and score or thumbs.", "");
  Feedback f;
  bool scored = false;
  for (const auto& [key, v] : j.items()) {
    if (key == "request_id" && v.is_string() && !v.get_ref<const std::string&>().empty() &&
        v.get_ref<const std::string&>().size() <= 200) {
      f.request_id = v.get<std::string>();
    } else if (key == "score" && v.is_number() && v.get<double>() >= 0 && v.get<double>() <= 1 &&
               !scored) {
      f.score = v.get<double>();
      scored = true;
    } else if (key == "thumbs" && v.is_string() && (v == "up" || v == "down") && !scored) {
      f.score = v == "up" ? 1 : 0;
      scored = true;
    } else if (key == "comment" && v.is_string() &&
               v.get_ref<const std::string&>().size() <= 4096) {
      f.comment = v.get<std::string>();
    } else if (key == "score" || key == "thumbs") {
      return bad(scored ? "Give one of score and thumbs, not both."
                        : key == "score" ? "score must be a number from 0 to 1."
                                         : "thumbs must be \"up\" or \"down\".",
                 key == "score" ? "score" : "thumbs");
    } else if (key == "request_id") {
      return bad("request_id must be the x-request-id of an answer (1 to 200 characters).",
                 "request_id");
    } else if (key == "comment") {
      return bad("comment must be a string of at most 4096 bytes.", "comment");
    } else {
      return bad("Unknown member \"" + key + "\": expected request_id, score or thumbs, comment.",
                 "");
    }
  }
  if (f.request_id.empty()) return bad("request_id is required.", "request_id");
  if (!scored) return bad("One of score (0 to 1) and thumbs (\"up\", \"down\") is required.", "score");
  return f;
}

}  // namespace

Task<void> serve_feedback(ServerState& st, const Snapshot& snap, SessionWriter& out,
                          std::string_view authorization, std::string_view body) {
  auto client = identify(snap, authorization);
  if (!client) co_return (void)co_await send_error(out, client.error());
  auto f = parse_feedback(body);
  if (!f) co_return (void)co_await send_error(out, f.error());
  const SteadyTime now = steady_now();
  Learning& learning = *snap.learning;
  std::string_view caller = *client ? std::string_view((*client)->config->name) : "";
  // Only the key that asked may judge; to any other the request does not exist. Of two
  // feedbacks at once, one takes the ticket.
  auto ticket = learning.take_ticket(f->request_id, caller, now);
  if (!ticket)
    co_return (void)co_await send_error(
        out, make_error(Reason::not_found,
                        "No answer with this request_id awaits feedback from this key: it is "
                        "unknown, older than feedback.window_s, or already rated.",
                        "request_id"));
  const std::string& model = ticket->target->model;
  learning.quality.record(model, ticket->label, f->score, now);
  if (!ticket->label.empty()) learning.quality.record(model, "", f->score, now);
  st.metrics.feedback(ticket->route, model, f->score);
  if (snap.decision_log)
    snap.decision_log->write(feedback_line(f->request_id, *ticket, f->score, f->comment));
  const nlohmann::json answer = {
      {"object", "feedback"}, {"request_id", f->request_id}, {"score", f->score}};
  (void)co_await out.send(200, "application/json", answer.dump());
}

}  // namespace switchyard

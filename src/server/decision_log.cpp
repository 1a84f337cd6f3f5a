#include "server/decision_log.hpp"

#include "router/classify/features.hpp"
#include "router/decision.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <ctime>

namespace switchyard {

namespace {

using nlohmann::json;

std::string utc_now() {
  const auto now = std::chrono::system_clock::now();
  const std::time_t t = std::chrono::system_clock::to_time_t(now);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()) %
                  1000;
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[64];  // room for any int the compiler imagines
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(ms.count()));
  return buf;
}

double ms(std::chrono::nanoseconds d) {
  return d.count() < 0 ? -1 : std::chrono::duration<double, std::milli>(d).count();
}

std::string_view endpoint_name(Endpoint e) {
  switch (e) {
    case Endpoint::chat_completions: return "chat";
    case Endpoint::completions: return "completions";
    case Endpoint::embeddings: return "embeddings";
  }
  return "";
}

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

}  // namespace

std::string decision_line(const RouteContext& ctx, const AccessRecord& rec, bool prompts) {
  const ApiRequest& req = ctx.request;
  const PromptInfo& p = req.prompt;
  json line = {{"type", "decision"},
               {"time", utc_now()},
               {"request_id", rec.request_id},
               {"client", rec.client},
               {"route", ctx.route}};
  if (!ctx.experiment.empty()) line["experiment"] = ctx.experiment;
  line["endpoint"] = endpoint_name(req.endpoint);
  line["stream"] = req.stream;
  line["features"] = {{"tokens", estimated_tokens(p.chars)}, {"messages", p.messages},
                      {"user_turns", p.user_turns},          {"images", p.images},
                      {"tools", p.tools},                    {"json_output", p.json_output}};
  if (!ctx.decision.empty()) {
    // The access line's text: names are UTF-8 (the config checks them), so it always parses.
    auto decision = json::parse(decision_json(ctx.decision), nullptr, false);
    if (!decision.is_discarded()) line["decision"] = std::move(decision);
  }
  // Each candidate's live statistics as the request ends (merged about once a second), in the
  // candidates' order: what the scorer will see next.
  json candidates = json::array(), live = json::array();
  const SteadyTime now = ctx.clock.now();
  for (const Target* t : ctx.candidates) {
    candidates.push_back(t->model->name + "@" + t->upstream_config->name);
    const TargetStats& s = t->state->stats;
    live.push_back({{"latency_ms", ms(s.latency())},
                    {"p95_ms", ms(s.latency_p95(now))},
                    {"ttft_ms", ms(s.time_to_first_token())},
                    {"failure_rate", s.failure_rate()},
                    {"timeout_rate", s.timeout_rate()},
                    {"tokens_per_s", s.output_tokens_per_second()},
                    {"in_flight", t->state->in_flight.load(std::memory_order_relaxed)},
                    {"upstream_in_flight",
                     t->state->upstream.in_flight.load(std::memory_order_relaxed)},
                    {"breaker", static_cast<int>(t->state->breaker.state(now))}});
  }
  line["candidates"] = std::move(candidates);
  line["live"] = std::move(live);
  line["model"] = rec.model;
  line["upstream"] = rec.upstream;
  json attempts = json::array();
  for (const AttemptRecord& a : ctx.attempts) {
    json at = {{"model", a.target->model->name},
               {"upstream", a.target->upstream_config->name},
               {"status", a.status},
               {"ok", a.ok},
               {"latency_ms", ms(a.duration)},
               {"cost_usd", a.cost_usd}};
    if (!a.ok) at["reason"] = reason_name(a.reason);
    attempts.push_back(std::move(at));
  }
  line["attempts"] = std::move(attempts);
  line["status"] = rec.status;
  line["error"] = rec.error;
  if (ctx.cache.hit) line["cache"] = "hit";
  else if (ctx.cache.capture) line["cache"] = "miss";
  line["cost_usd"] = rec.cost_usd;
  line["latency_ms"] = ms(rec.duration);
  line["ttft_ms"] = ms(rec.ttft);
  line["input_tokens"] = rec.usage.input_tokens;
  line["output_tokens"] = rec.usage.output_tokens;
  if (prompts) {
    line["prompt"] = p.text;
    if (!p.system.empty()) line["system"] = p.system;
  }
  return dump(line);
}

std::string feedback_line(std::string_view request_id, const FeedbackTicket& t, double score,
                          std::string_view comment) {
  json line = {{"type", "feedback"},         {"time", utc_now()},
               {"request_id", request_id},   {"client", t.client},
               {"route", t.route},           {"model", t.target->model},
               {"upstream", t.target->upstream.name}, {"label", t.label},
               {"score", score}};
  if (!comment.empty()) line["comment"] = comment;
  return dump(line);
}

}  // namespace switchyard

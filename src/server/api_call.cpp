#include "server/api_call.hpp"

#include "api/request.hpp"
#include "api/usage.hpp"
#include "router/call.hpp"
#include "router/classify/features.hpp"
#include "router/decision.hpp"
#include "router/resolve.hpp"
#include "server/access_log.hpp"
#include "server/auth.hpp"
#include "server/decision_log.hpp"
#include "server/gateway.hpp"

#include <boost/asio/this_coro.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include <charconv>
#include <utility>

namespace switchyard {

namespace net = boost::asio;
namespace http = boost::beast::http;

namespace {

// Client headers the OpenAI API defines, passed on to the upstream; every other client header
// stays at the gateway.
constexpr std::string_view kForwardedClientHeaders[] = {"OpenAI-Beta", "OpenAI-Organization",
                                                        "OpenAI-Project"};

// How long some upstream call was under way: the union of the calls' spans, which overlap in a
// race, a hedge, or a tier that asks several models at once.
std::chrono::nanoseconds upstream_time(const std::vector<AttemptRecord>& attempts) {
  std::chrono::nanoseconds total{0};
  SteadyTime covered{};  // the end of the spans so far; the records are in order of start
  for (const AttemptRecord& a : attempts) {
    const SteadyTime end = a.start + a.duration;
    if (end > covered) total += end - std::max(a.start, covered), covered = end;
  }
  return total;
}

}  // namespace

std::optional<Endpoint> api_endpoint(std::string_view path) {
  if (path == "/v1/chat/completions") return Endpoint::chat_completions;
  if (path == "/v1/completions") return Endpoint::completions;
  if (path == "/v1/embeddings") return Endpoint::embeddings;
  return std::nullopt;
}

const Dispatcher* ApiCall::prepare(HttpRequest& req) {
  auto client = identify(*snap_, req["authorization"]);
  if (!client) return refuse(std::move(client).error());
  client_ = *client;
  auto parsed = parse_api_request(endpoint_, std::move(req.body));
  if (!parsed) return refuse(std::move(parsed).error());
  request_ = std::move(*parsed);
  request_.request_id = request_id_;
  for (auto name : kForwardedClientHeaders)
    if (auto v = req[name]; !v.empty()) request_.headers.emplace_back(name, v);
  request_.debug = req["x-switchyard-debug"] == "1";
  if (auto session = req["x-session-id"]; !session.empty()) request_.session = session;
  constexpr std::pair<const char*, std::optional<double> ApiRequest::*> kLimits[] = {
      {"x-switchyard-max-cost-usd", &ApiRequest::max_cost_usd},
      {"x-switchyard-max-latency-ms", &ApiRequest::max_latency_ms}};
  for (auto [name, limit] : kLimits) {
    const std::string_view v = req[name];
    if (v.empty()) continue;
    double d = -1;
    auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), d);
    if (ec != std::errc() || end != v.data() + v.size() || !(d >= 0))
      return refuse(make_error(Reason::bad_request,
                               std::string(name) + " must be a number, at least 0"));
    request_.*limit = d;
  }

  ctx_.emplace(*snap_, request_, *upstreams_);
  if (client_) {
    const ClientConfig& c = *client_->config;
    estimated_tokens_ = estimated_tokens(request_.prompt.chars);
    const Instant now{steady_now(), std::chrono::system_clock::now()};
    if (auto admitted = client_->account->admit(c, now, estimated_tokens_); !admitted)
      return refuse(std::move(admitted).error());
    admitted_ = true;
    Caller& caller = ctx_->caller;
    caller.name = c.name;
    caller.tier = c.tier;
    if (!c.routes.empty()) caller.routes = &c.routes;
    if (!c.models.empty()) caller.models = &c.models;
    const Spend spent = client_->account->spent(now.wall);
    if (c.budget_usd_per_day > 0) caller.budget_used = spent.day_usd / c.budget_usd_per_day;
    if (c.budget_usd_per_month > 0)
      caller.budget_used = std::max(caller.budget_used, spent.month_usd / c.budget_usd_per_month);
  }
  auto dispatcher = resolve(*ctx_);
  if (!dispatcher) return refuse(std::move(dispatcher).error());
  return *dispatcher;
}

const Dispatcher* ApiCall::refuse(Error e) {
  error_ = std::move(e);
  return nullptr;
}

Task<void> ApiCall::run(HttpRequest& req) {
  co_await net::this_coro::throw_if_cancelled(false);
  const Dispatcher* dispatcher = prepare(req);
  if (!dispatcher) {
    (void)co_await send_error(out_, *error_);
    co_return;
  }
  if (ctx_->cache.hit) {
    (void)co_await replay(*ctx_, *ctx_->cache.hit, out_);
    co_return;
  }
  auto r = co_await dispatcher->dispatch(*ctx_, out_);
  if (r) {
    for (const SuccessHook* hook : ctx_->on_success) hook->succeeded(*ctx_);
    co_return;
  }
  error_ = std::move(r).error();
  if (out_.started() || error_->reason == Reason::cancelled) co_return;
  set_decision_headers(*ctx_, out_, ctx_->attempts.size());
  // The gateway already tried its candidates: an SDK's own retries would only multiply the
  // load, unless an upstream said when to come back (send_error then says true).
  if (!ctx_->attempts.empty() && !error_->retry_after_ms)
    out_.set_header("x-should-retry", "false");
  (void)co_await send_error(out_, *error_);
}

void ApiCall::record(SteadyTime start) {
  const auto elapsed = steady_now() - start;
  const int status = out_.started() ? out_.status() : 499;
  const int logged =
      out_.broken() || (error_ && error_->reason == Reason::cancelled) ? 499 : status;
  AccessRecord rec;
  rec.request_id = request_id_;
  if (client_) rec.client = client_->config->name;
  rec.status = logged;
  rec.duration = elapsed;
  if (ctx_) {
    rec.route = ctx_->route;
    rec.attempts = static_cast<unsigned>(ctx_->attempts.size());
    std::uint64_t tokens = 0;
    for (const auto& a : ctx_->attempts) {
      rec.cost_usd += a.cost_usd;
      tokens += a.tokens;
    }
    // The budget pays for every call, the failed and the escalated ones too.
    if (admitted_)
      client_->account->charge(*client_->config, {steady_now(), std::chrono::system_clock::now()},
                               rec.cost_usd, tokens, estimated_tokens_);
    if (!ctx_->attempts.empty())
      st_.metrics.overhead().observe(seconds(elapsed - upstream_time(ctx_->attempts)));
    // A stream that failed after its 200 went out is counted as the failure it was, with the
    // status its error would have had; the access log keeps the status the client saw.
    const bool failed_midway =
        out_.started() && logged < 400 && error_ && error_->reason != Reason::cancelled;
    const int counted = failed_midway ? error_->status : logged;
    const auto op = static_cast<std::uint64_t>(endpoint_);
    const auto count = [&](const ModelMetrics& mm) {
      mm.requests_by_code.inc(static_cast<std::uint64_t>(counted), std::to_string(counted));
      if (error_ && counted >= 400)
        mm.duration.at(op * 64 + 1 + static_cast<std::uint64_t>(error_->reason))
            .observe(seconds(elapsed));
    };
    if (const Target* t = ctx_->chosen) {
      rec.model = t->model->name;
      rec.upstream = t->upstream_config->name;
      rec.usage = ctx_->usage;
      rec.ttft = ctx_->time_to_first_token;
      const ModelMetrics& mm = *t->metrics;
      count(mm);
      if (counted < 400) {
        if (const CompiledRoute* r = ctx_->compiled; r && r->strongest) {
          r->savings.spent->Increment(rec.cost_usd);
          r->savings.baseline->Increment(cost_usd(ctx_->usage, *r->strongest));
        }
        const LazyCells& tokens = ctx_->usage.reported ? mm.token_usage : mm.estimated_tokens;
        tokens.at(op * 2).observe(static_cast<double>(ctx_->usage.input_tokens));
        tokens.at(op * 2 + 1).observe(static_cast<double>(ctx_->usage.output_tokens));
        mm.duration.at(op * 64).observe(seconds(elapsed));
        if (request_.stream && ctx_->time_to_first_token.count() >= 0)
          mm.ttft.at(op).observe(seconds(ctx_->time_to_first_token));
      }
    } else if (ctx_->cache.hit) {
      rec.model = ctx_->cache.hit->model;
    } else if (!ctx_->candidates.empty()) {
      count(*ctx_->candidates.front()->metrics);  // every candidate failed: the first choice's
    } else {
      st_.metrics.count_unrouted(logged);
    }
  } else {
    st_.metrics.count_unrouted(logged);
  }
  if (const CacheSlot* c = ctx_ ? &ctx_->cache : nullptr; c && (c->hit || c->capture || c->skipped)) {
    // Only a route's stages touch the cache, so the route exists.
    LazyCounters& lookups = *snap_->routes.at(std::string(ctx_->route)).cache_lookups;
    if (c->hit) lookups.inc(0, "hit");
    else if (c->capture) lookups.inc(1, "miss");
    else lookups.inc(2, "skip");
  }
  if (error_) rec.error = reason_name(error_->reason);
  std::string prompt, decision;  // outlive rec
  if (ctx_ && !ctx_->decision.empty()) {
    decision = decision_json(ctx_->decision);
    rec.decision = decision;
  }
  if (ctx_ && snap_->config.server.log_prompts) {
    prompt = nlohmann::json(request_.prompt.text)
                 .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    rec.prompt = prompt;
  }
  log_access(rec);
  if (ctx_ && snap_->decision_log)
    snap_->decision_log->write(decision_line(*ctx_, rec, snap_->config.decision_log.prompts));
}

}  // namespace switchyard

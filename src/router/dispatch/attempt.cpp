#include "router/dispatch/attempt.hpp"

#include "api/request.hpp"
#include "api/usage.hpp"
#include "core/clock.hpp"

#include <fmt/format.h>

namespace switchyard {

namespace {

std::string_view path_of(Endpoint e) {
  switch (e) {
    case Endpoint::chat_completions: return "/chat/completions";
    case Endpoint::completions: return "/completions";
    case Endpoint::embeddings: return "/embeddings";
  }
  return "/chat/completions";
}

// Holds one of the upstream's max_concurrent slots (across all workers) for one call.
class ConcurrencySlot {
 public:
  explicit ConcurrencySlot(const UpstreamRuntime& u) : u_(u) {
    auto n = u_.in_flight->fetch_add(1, std::memory_order_relaxed);
    ok_ = n < u_.config->max_concurrent;
  }
  ~ConcurrencySlot() { u_.in_flight->fetch_sub(1, std::memory_order_relaxed); }
  ConcurrencySlot(const ConcurrencySlot&) = delete;
  ConcurrencySlot& operator=(const ConcurrencySlot&) = delete;
  bool ok() const { return ok_; }

 private:
  const UpstreamRuntime& u_;
  bool ok_;
};

// Deeper than any OpenAI response; bounded so that checking an answer needs constant stack.
constexpr std::uint32_t kMaxUpstreamJsonDepth = 256;

// Whether an SSE event's data is JSON or [DONE] (events without data, such as comments, are
// fine). Multi-line data is joined with newlines, as the SSE spec says.
bool is_json_event(std::string_view event) {
  std::string joined;
  std::string_view data;
  int lines = 0;
  while (!event.empty()) {
    auto eol = event.find('\n');
    auto line = event.substr(0, eol);
    event = eol == std::string_view::npos ? std::string_view{} : event.substr(eol + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (!line.starts_with("data:")) continue;
    line.remove_prefix(5);
    if (!line.empty() && line.front() == ' ') line.remove_prefix(1);
    if (++lines == 1) {
      data = line;
    } else {
      if (lines == 2) joined = data;
      joined.append("\n").append(line);
      data = joined;
    }
  }
  return lines == 0 || data == "[DONE]" || is_bounded_json(data, kMaxUpstreamJsonDepth);
}

// Relays a 200 event stream to the client, one event at a time, and reads usage on the way.
// The upstream is always asked for usage (cost needs it); the usage-only chunk is passed on only
// if the client asked for it too.
class RelaySink final : public ChunkSink {
 public:
  RelaySink(RouteContext& ctx, const Target& target, ResponseWriter& out, SteadyTime start)
      : ctx_(ctx), target_(target), out_(out), start_(start) {}

  // Kept until the first event: an attempt that fails before it must leave no trace on the
  // response another candidate will give.
  void on_head(const UpstreamReply& head) override { head_ = head; }

  Task<Result<void>> on_event(std::string_view event) override {
    // An event the client's SDK cannot parse is the upstream's fault: before the stream is
    // committed another candidate can answer, after it the client gets an error event.
    if (!is_json_event(event))
      co_return make_error(Reason::protocol, "protocol (upstream " +
                                                 target_.upstream_config->name +
                                                 "): an event whose data is not JSON");
    if (!out_.started()) {
      ctx_.chosen = &target_;
      ctx_.time_to_first_token = steady_now() - start_;
      ctx_.upstream_request_id = head_.upstream_request_id;
      relay_upstream_headers(head_, out_);
      set_decision_headers(ctx_, out_, ctx_.attempts.size() + 1);
      out_.set_header("trailer", "x-switchyard-cost-usd");
      if (auto r = co_await out_.begin_stream(); !r) co_return r;
    }
    if (event.find("\"usage\"") != std::string_view::npos) {
      if (auto u = extract_usage(event)) {
        usage_ = *u;
        if (!ctx_.request.include_usage && is_usage_only_chunk(event)) co_return Result<void>{};
      }
    }
    if (event.find("\"delta\"") != std::string_view::npos ||
        event.find("\"text\"") != std::string_view::npos)
      ++content_events_;
    co_return co_await out_.write_event(event);
  }

  // Upstreams that ignore include_usage still get a cost: about one token per content event.
  Usage usage(std::size_t request_bytes) const {
    if (usage_.reported) return usage_;
    return Usage{request_bytes / 4, content_events_, false};
  }

 private:
  RouteContext& ctx_;
  const Target& target_;
  ResponseWriter& out_;
  SteadyTime start_;
  UpstreamReply head_;
  Usage usage_;
  std::uint64_t content_events_ = 0;
};

std::string fmt_cost(double usd) { return fmt::format("{:.8f}", usd); }

}  // namespace

void relay_upstream_headers(const UpstreamReply& reply, ResponseWriter& out) {
  for (const auto& [name, value] : reply.headers) out.set_header(name, value);
}

void set_decision_headers(const RouteContext& ctx, ResponseWriter& out, std::size_t attempts) {
  out.set_header("x-switchyard-route", ctx.route);
  if (ctx.chosen) {
    out.set_header("x-switchyard-model", ctx.chosen->model->name);
    out.set_header("x-switchyard-upstream", ctx.chosen->upstream_config->name);
  }
  out.set_header("x-switchyard-attempts", std::to_string(attempts));
  if (!ctx.upstream_request_id.empty())
    out.set_header("x-upstream-request-id", ctx.upstream_request_id);
}

Task<Result<void>> attempt(RouteContext& ctx, const Target& target, ResponseWriter& out) {
  const ModelMetrics& mm = *target.metrics;
  AttemptRecord rec{&target};
  auto start = steady_now();
  auto finish = [&](Result<void> r) -> Result<void> {
    rec.duration = steady_now() - start;
    rec.ok = r.has_value();
    if (!rec.ok) rec.reason = r.error().reason;
    ctx.attempts.push_back(rec);
    return r;
  };

  const UpstreamRuntime& runtime = *ctx.snapshot.upstreams[target.upstream];
  ConcurrencySlot slot(runtime);
  if (!slot.ok()) {
    auto e = make_error(Reason::upstream_saturated,
                        "upstream " + target.upstream_config->name + " is at max_concurrent");
    runtime.errors->inc(static_cast<std::uint64_t>(e.reason), reason_name(e.reason));
    mm.attempts_by_outcome.inc(static_cast<std::uint64_t>(e.reason) + 1, reason_name(e.reason));
    co_return finish(e);
  }

  // The only per-attempt copy of the body: the upstream's model id differs per target. Cost
  // accounting wants the upstream's usage on every stream; RelaySink strips the usage chunk again
  // if the client did not ask for it. Some upstreams reject stream_options.
  const auto usage = target.upstream_config->stream_include_usage ? UsageOption::request
                     : ctx.request.include_usage                  ? UsageOption::as_sent
                                                                  : UsageOption::strip;
  const std::string wire = forward_body(ctx.request, target.model->id, usage);
  OutboundRequest req{path_of(ctx.request.endpoint), wire, ctx.request.request_id,
                      ctx.request.stream, ctx.request.headers};

  Upstream& upstream = ctx.upstreams.at(target.upstream);
  RelaySink sink(ctx, target, out, start);
  // Not a ?: — GCC 12 miscompiles co_await inside a conditional expression.
  Result<UpstreamReply> reply = make_error(Reason::internal, "unreachable");
  if (ctx.request.stream)
    reply = co_await upstream.stream(req, sink);
  else
    reply = co_await upstream.complete(req);

  auto count_failure = [&](Reason r) {
    // A client that hung up is not the upstream's fault.
    if (r != Reason::cancelled) runtime.errors->inc(static_cast<std::uint64_t>(r), reason_name(r));
    mm.attempts_by_outcome.inc(static_cast<std::uint64_t>(r) + 1, reason_name(r));
  };

  if (!reply) {
    Error e = reply.error();
    count_failure(e.reason);
    rec.status = 0;
    if (out.started()) {
      // Mid-stream: the client already has a 200; tell it in-band, then close cleanly.
      std::string event = "data: " + to_openai_json(e) + "\n\n";
      (void)co_await out.write_event(event);
      ctx.usage = sink.usage(wire.size());
      ctx.cost_usd = cost_usd(ctx.usage, *target.model);
      out.set_trailer("x-switchyard-cost-usd", fmt_cost(ctx.cost_usd));
      (void)co_await out.end_stream();
    }
    co_return finish(e);
  }

  rec.status = reply->status;
  ctx.upstream_request_id = reply->upstream_request_id;
  if (reply->status >= 500 || reply->status == 429) {
    count_failure(Reason::upstream_status);
    co_return finish(upstream_status_error(
        reply->status,
        fmt::format("upstream {} answered HTTP {}", target.upstream_config->name, reply->status),
        reply->retry_after_ms));
  }
  // The upstream refused the gateway's own key: the client's request is not at fault, and
  // another candidate (another key or provider) may well answer it.
  if (reply->status == 401 || reply->status == 403) {
    count_failure(Reason::upstream_auth);
    co_return finish(make_error(
        Reason::upstream_auth,
        fmt::format("upstream {} rejected the gateway's credentials (HTTP {}); check its api_key",
                    target.upstream_config->name, reply->status)));
  }
  // A 2xx body that is not JSON would break the client's SDK; another candidate may do better.
  if (!out.started() && reply->status < 300 &&
      !is_bounded_json(reply->body, kMaxUpstreamJsonDepth)) {
    count_failure(Reason::protocol);
    co_return finish(make_error(
        Reason::protocol, fmt::format("upstream {} answered HTTP {} with a body that is not JSON",
                                      target.upstream_config->name, reply->status)));
  }

  mm.attempts_by_outcome.inc(0, "ok");
  ctx.chosen = &target;
  if (out.started()) {  // a stream that ran to completion
    ctx.usage = sink.usage(wire.size());
    ctx.cost_usd = cost_usd(ctx.usage, *target.model);
    out.set_trailer("x-switchyard-cost-usd", fmt_cost(ctx.cost_usd));
    co_return finish(co_await out.end_stream());
  }

  // A complete body: JSON (2xx, or a 4xx that the client must see as the upstream said it).
  ctx.time_to_first_token = reply->first_byte;
  if (reply->status < 300) {
    if (auto u = extract_usage(reply->body))
      ctx.usage = *u;
    else
      ctx.usage = Usage{wire.size() / 4, reply->body.size() / 4, false};
    ctx.cost_usd = cost_usd(ctx.usage, *target.model);
  }
  relay_upstream_headers(*reply, out);
  set_decision_headers(ctx, out, ctx.attempts.size() + 1);
  out.set_header("x-switchyard-cost-usd", fmt_cost(ctx.cost_usd));
  std::string_view content_type = reply->content_type;
  if (content_type.empty()) content_type = "application/json";
  co_return finish(co_await out.send(reply->status, content_type, reply->body));
}

Error aggregate_error(const RouteContext& ctx, Error last) {
  if (ctx.attempts.size() <= 1) return last;  // its own message says it best
  std::string msg = "all " + std::to_string(ctx.attempts.size()) + " attempts failed:";
  for (std::size_t i = 0; i < ctx.attempts.size(); ++i) {
    const auto& a = ctx.attempts[i];
    msg += fmt::format(" [{}] {}/{}: {}", i + 1, a.target->upstream_config->name,
                       a.target->model->name,
                       a.reason == Reason::upstream_status ? "HTTP " + std::to_string(a.status)
                                                           : std::string(reason_name(a.reason)));
  }
  last.message = msg + ". Last: " + last.message;
  return last;
}

}  // namespace switchyard

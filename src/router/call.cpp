#include "router/call.hpp"

#include "api/request.hpp"
#include "api/usage.hpp"
#include "core/find.hpp"
#include "core/json_text.hpp"
#include "router/decision.hpp"
#include "router/snapshot.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

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

// Holds one of the upstream's max_concurrent slots (across all workers) for one call, and counts
// the call in flight to its model.
class ConcurrencySlot {
 public:
  explicit ConcurrencySlot(const Target& t)
      : in_flight_(t.state->upstream.in_flight), model_in_flight_(t.state->in_flight) {
    ok_ = in_flight_.fetch_add(1, std::memory_order_relaxed) < t.upstream_config->max_concurrent;
    model_in_flight_.fetch_add(1, std::memory_order_relaxed);
  }
  ~ConcurrencySlot() {
    in_flight_.fetch_sub(1, std::memory_order_relaxed);
    model_in_flight_.fetch_sub(1, std::memory_order_relaxed);
  }
  ConcurrencySlot(const ConcurrencySlot&) = delete;
  ConcurrencySlot& operator=(const ConcurrencySlot&) = delete;
  bool ok() const { return ok_; }

 private:
  std::atomic<std::uint32_t>& in_flight_;
  std::atomic<std::uint32_t>& model_in_flight_;
  bool ok_;
};

// A kept answer replayed as a stream goes out in writes of about this much, so that the writer
// holds a bounded copy of it, and each write has its own timeout.
constexpr std::size_t kReplayWriteBytes = 64 * 1024;

// Writes one event of a kept answer; true when the writer now holds a part to flush.
bool write_kept(ResponseWriter& out, std::string_view event, std::size_t& unflushed) {
  out.write_event(event);
  if ((unflushed += event.size()) < kReplayWriteBytes) return false;
  unflushed = 0;
  return true;
}

// Deeper than any OpenAI response; bounded so that checking an answer needs constant stack.
constexpr std::uint32_t kMaxUpstreamJsonDepth = 256;

// What an SSE event's data is: nothing (a comment), [DONE], JSON, or something else, which a
// client's SDK could not parse. Multi-line data is joined with newlines, as the SSE spec says.
// JSON data's usage goes to `usage`, read from the parse that checks it (is_bounded_json).
enum class EventData : std::uint8_t { none, done, json, bad };

EventData event_data(std::string_view event, std::optional<Usage>& usage) {
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
  if (lines == 0) return EventData::none;
  if (data == "[DONE]") return EventData::done;
  return is_bounded_json(data, kMaxUpstreamJsonDepth, usage) ? EventData::json : EventData::bad;
}

// Receives a 200 event stream for one call: checks each event, reads usage on the way, and
// either keeps the events in the result or, with a writer, commits the call on the first event
// and passes each one through. The upstream is always asked for usage (cost needs it); the
// usage-only chunk is kept only if the client asked for it too.
class CallSink final : public ChunkSink {
 public:
  CallSink(RouteContext& ctx, CallResult& result, ResponseWriter* out, SteadyTime start)
      : ctx_(ctx), result_(result), out_(out), start_(start) {}

  // Kept until the first event: a call that fails before it must leave no trace on the
  // response another candidate will give.
  void on_head(const UpstreamReply& head) override { result_.reply = head; }

  Result<void> on_event(std::string_view event) override {
    const UpstreamConfig& upstream = *result_.target->upstream_config;
    // An event the client's SDK cannot parse is the upstream's fault: before the stream is
    // committed another candidate can answer, after it the client gets an error event.
    std::optional<Usage> usage;
    const EventData data = event_data(event, usage);
    if (data == EventData::bad)
      return make_error(Reason::protocol, "protocol (upstream " + upstream.name +
                                              "): an event whose data is not JSON");
    if (result_.time_to_first_token.count() < 0)
      result_.time_to_first_token = ctx_.clock.now() - start_;
    bool usage_chunk = false;
    if (usage) {
      usage_ = *usage;
      usage_chunk = is_usage_only_chunk(event);
      if (!ctx_.request.include_usage && usage_chunk) return {};
    }
    if (data == EventData::json && !usage_chunk) ++content_events_;
    if (!out_) {
      buffered_ += event.size();
      if (buffered_ > upstream.max_response_bytes)
        return make_error(Reason::response_too_large,
                          fmt::format("upstream {} streamed more than max_response_bytes ({})",
                                      upstream.name, upstream.max_response_bytes));
      result_.events.emplace_back(event);
      return {};
    }
    if (!result_.committed) {
      // Racing calls share the response: the first with an event for the client takes it.
      if (out_->started())
        return make_error(Reason::cancelled, "another call answered first");
      result_.committed = true;
      begin_stream(ctx_, result_, *out_);
    }
    if (ctx_.cache.capture) ctx_.cache.capture_event(event);  // a replay costs nothing
    if (usage_chunk) {
      // What the request has cost, this call included, also in-band.
      const Target& t = *result_.target;
      const double usd = spent_usd(ctx_) + cost_usd(usage_, *t.model) +
                         endpoint_cost_usd(*t.upstream_config, ctx_.clock.now() - start_);
      if (auto priced = with_usage_cost(event, usd); !priced.empty()) {
        out_->write_event(priced);
        return {};
      }
    }
    out_->write_event(event);
    return {};
  }

  Task<Result<void>> on_pause() override {
    if (!out_ || !result_.committed) co_return Result<void>{};
    co_return co_await out_->flush();
  }

  // Upstreams that ignore include_usage still get a cost: about one token per JSON event.
  Usage usage(std::size_t request_bytes) const {
    if (usage_.reported) return usage_;
    return Usage{request_bytes / 4, content_events_, false};
  }

  // Marks `result` chosen in ctx and starts the client's event stream.
  static void begin_stream(RouteContext& ctx, const CallResult& result, ResponseWriter& out);

 private:
  RouteContext& ctx_;
  CallResult& result_;
  ResponseWriter* out_;
  SteadyTime start_;
  Usage usage_;
  std::uint64_t content_events_ = 0;
  std::uint64_t buffered_ = 0;
};

std::string fmt_cost(double usd) {
  std::string s;
  append_fixed(s, usd, 8);
  return s;
}

// What the gateway added to a call that the client did not ask for, to take out of its answer.
struct Added {
  bool logprobs = false;
  bool choices = false;
  std::uint32_t keep = 0;  // with choices: the one choice the client gets, as choice 0
};

// `body` (a chat completion or completion, or one chunk of a stream) as the client asked for
// it: every choice's logprobs null, as an upstream answers when the request did not ask for
// them, and only choice `keep` when choices were added. Unchanged if there is nothing to undo.
// `emptied` is set when a chunk that had choices has none left (it spoke for another choice).
std::string as_asked(std::string_view body, const Added& added, bool& emptied) {
  if ((!added.choices && find_text(body, "\"logprobs\"") == std::string_view::npos) ||
      !is_bounded_json(body, kMaxUpstreamJsonDepth))
    return std::string(body);
  auto j = nlohmann::json::parse(body, nullptr, false);
  auto choices = j.is_object() ? j.find("choices") : j.end();
  if (choices == j.end() || !choices->is_array()) return std::string(body);
  if (added.choices) {
    auto kept = nlohmann::json::array();
    for (auto& c : *choices) {
      if (!c.is_object() || !c.contains("index") || c["index"] != added.keep) continue;
      c["index"] = 0;
      kept.push_back(std::move(c));
    }
    emptied = !choices->empty() && kept.empty();
    *choices = std::move(kept);
  }
  if (added.logprobs)
    for (auto& c : *choices)
      if (c.is_object() && c.contains("logprobs")) c["logprobs"] = nullptr;
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// The same for one SSE event: the JSON of each of its data lines ("data:" with or without its
// space, ended by LF or CRLF); its other lines are kept as they are. Empty when the event spoke
// only for choices the client does not get.
std::string event_as_asked(std::string_view event, const Added& added) {
  if (!added.choices && find_text(event, "\"logprobs\"") == std::string_view::npos)
    return std::string(event);
  std::string out;
  out.reserve(event.size());
  bool emptied = false;
  while (!event.empty()) {
    const auto eol = event.find('\n');
    const std::string_view line = event.substr(0, eol == std::string_view::npos ? eol : eol + 1);
    event.remove_prefix(line.size());
    if (!line.starts_with("data:")) {
      out += line;
      continue;
    }
    std::string_view data = line.substr(5);
    const std::size_t lead = data.starts_with(' ') ? 1 : 0;
    std::size_t end = data.size();
    while (end > lead && (data[end - 1] == '\n' || data[end - 1] == '\r')) --end;
    out.append(line.substr(0, 5 + lead));
    out += as_asked(data.substr(lead, end - lead), added, emptied);
    out.append(data.substr(end));
  }
  return emptied ? std::string() : out;
}

// The committed call's identity and numbers, for the access log and metrics.
void choose(RouteContext& ctx, const CallResult& result) {
  ctx.chosen = result.target;
  ctx.upstream_request_id = result.reply.upstream_request_id;
  ctx.time_to_first_token = result.time_to_first_token;
  ctx.usage = result.usage;
  ctx.snapshot.learning->expect_feedback(ctx);
}

// Headers every committed answer carries: the upstream's end-to-end headers (rate limits, …)
// and the decision headers.
void set_answer_headers(const RouteContext& ctx, const CallResult& result, ResponseWriter& out) {
  for (const auto& [name, value] : result.reply.headers) out.set_header(name, value);
  set_decision_headers(ctx, out, ctx.attempts.size());
}

void CallSink::begin_stream(RouteContext& ctx, const CallResult& result, ResponseWriter& out) {
  choose(ctx, result);
  set_answer_headers(ctx, result, out);
  out.set_header("trailer", "x-switchyard-cost-usd");
  out.begin_stream();
}

// Ends a committed stream: an error event first if the call failed, then the trailer with what
// the request cost (`cost`: every call's, this one's included).
Task<Result<void>> end_stream(RouteContext& ctx, const CallResult& result, ResponseWriter& out,
                              const Error* failure, double cost) {
  ctx.usage = result.usage;
  // Mid-stream the client already has a 200: it learns of a failure in-band.
  if (failure) out.write_event("data: " + to_openai_json(*failure) + "\n\n");
  out.set_trailer("x-switchyard-cost-usd", fmt_cost(cost));
  co_return co_await out.end_stream();
}

// Makes the call into `result`; fails when it has no answer.
Task<Result<void>> exchange(RouteContext& ctx, CallResult& result, ResponseWriter* out,
                            SteadyTime start, CallOptions options) {
  const Target& target = *result.target;
  const std::string& name = target.upstream_config->name;
  const ApiRequest& request = options.request ? *options.request : ctx.request;
  // The only per-call copy of the body: the upstream's model id differs per target. Cost
  // accounting wants the upstream's usage on every stream; CallSink drops the usage chunk again
  // if the client did not ask for it. Some upstreams reject stream_options.
  const auto usage = target.upstream_config->stream_include_usage ? UsageOption::request
                     : request.include_usage                      ? UsageOption::as_sent
                                                                  : UsageOption::strip;
  result.logprobs_added = options.logprobs && !out && !request.asks_logprobs() &&
                          request.endpoint == Endpoint::chat_completions;
  const bool may_add_choices = request.endpoint == Endpoint::chat_completions ||
                               request.endpoint == Endpoint::completions;
  result.choices_added =
      options.samples > 1 && !out && request.asks_one_choice() && may_add_choices ? options.samples
                                                                                  : 0;
  result.sent = forward_body(request, target.model->id, usage, result.logprobs_added,
                             result.choices_added);
  OutboundRequest req{path_of(request.endpoint), result.sent, ctx.request.request_id,
                      request.stream, request.headers};

  Upstream& upstream = ctx.upstreams.at(target.upstream);
  CallSink sink(ctx, result, out, start);
  auto price = [&] {
    return cost_usd(result.usage, *target.model) +
           endpoint_cost_usd(*target.upstream_config, ctx.clock.now() - start);
  };
  // Not a ?: — GCC 12 miscompiles co_await inside a conditional expression.
  Result<UpstreamReply> reply = UpstreamReply{};  // a placeholder that allocates nothing
  if (request.stream)
    reply = co_await upstream.stream(req, sink);
  else
    reply = co_await upstream.complete(req);

  if (!reply) {
    Error failure = std::move(reply).error();
    // A call cancelled under way (a race's loser, a client that hung up) has most likely been
    // billed by the provider for its prompt and what it streamed: estimated from the sizes.
    if (result.committed || failure.reason == Reason::cancelled) {
      result.usage = sink.usage(result.sent.size());
      result.cost_usd = price();
    }
    if (result.committed)
      (void)co_await end_stream(ctx, result, *out, &failure, spent_usd(ctx) + result.cost_usd);
    co_return failure;
  }

  result.reply = std::move(*reply);
  const int status = result.reply.status;
  if (status >= 500 || status == 429)
    co_return upstream_status_error(status, fmt::format("upstream {} answered HTTP {}", name, status),
                                    result.reply.retry_after_ms);
  // The upstream refused the gateway's own key: the client's request is not at fault, and
  // another candidate (another key or provider) may well answer it.
  if (status == 401 || status == 403)
    co_return make_error(
        Reason::upstream_auth,
        fmt::format("upstream {} rejected the gateway's credentials (HTTP {}); check its api_key",
                    name, status));

  if (result.committed || !result.events.empty()) {  // a stream that ran to completion
    result.usage = sink.usage(result.sent.size());
    result.cost_usd = price();
    if (result.committed) {
      if (auto r = co_await end_stream(ctx, result, *out, nullptr, spent_usd(ctx) + result.cost_usd);
          !r)
        co_return r;
    }
    co_return Result<void>{};
  }

  // A complete body. A 2xx that is not JSON would break the client's SDK; another candidate may
  // do better. A 4xx goes to the client as the upstream said it.
  std::optional<Usage> reported;
  if (status < 300 && !is_bounded_json(result.reply.body, kMaxUpstreamJsonDepth, reported))
    co_return make_error(
        Reason::protocol,
        fmt::format("upstream {} answered HTTP {} with a body that is not JSON", name, status));
  result.time_to_first_token = result.reply.first_byte;
  if (status < 300) {
    result.usage =
        reported.value_or(Usage{result.sent.size() / 4, result.reply.body.size() / 4, false});
    result.cost_usd = price();
  }
  co_return Result<void>{};
}

// One call with its bookkeeping: the AttemptRecord (appended at the start, so that
// x-switchyard-attempts counts calls in flight) and the metrics.
Task<CallResult> run_call(RouteContext& ctx, const Target& target, ResponseWriter* out,
                          CallOptions options) {
  CallResult result;
  result.target = &target;
  const std::size_t index = ctx.attempts.size();
  const auto start = ctx.clock.now();
  AttemptRecord& started = ctx.attempts.emplace_back();
  started.target = &target;
  started.start = start;
  Result<void> outcome = Result<void>{};
  ConcurrencySlot slot(target);
  if (slot.ok())
    outcome = co_await exchange(ctx, result, out, start, options);
  else
    outcome = make_error(Reason::upstream_saturated,
                         "upstream " + target.upstream_config->name + " is at max_concurrent");
  std::optional<Error> failure;
  if (!outcome) failure = std::move(outcome).error();
  result.duration = ctx.clock.now() - start;

  AttemptRecord& rec = ctx.attempts[index];
  rec.status = result.reply.status;
  rec.duration = result.duration;
  rec.ok = !failure;
  rec.cost_usd = result.cost_usd;
  if (rec.cost_usd > 0) target.metrics->cost_usd->Increment(rec.cost_usd);  // every call is billed
  rec.tokens = result.usage.input_tokens + result.usage.output_tokens;
  const ModelMetrics& mm = *target.metrics;
  if (failure) {
    const Reason r = failure->reason;
    // A client that hung up is not the upstream's fault.
    if (r != Reason::cancelled)
      ctx.snapshot.upstreams[target.upstream]->errors->inc(static_cast<std::uint64_t>(r),
                                                            reason_name(r));
    mm.attempts_by_outcome.inc(static_cast<std::uint64_t>(r) + 1, reason_name(r));
    rec.reason = r;
    rec.message = failure->message;
  } else {
    mm.attempts_by_outcome.inc(0, "ok");
  }
  ctx.snapshot.registry->report(CallOutcome{&target, rec.ok, rec.reason, rec.status,
                                            result.duration, result.time_to_first_token,
                                            result.usage.input_tokens, result.usage.output_tokens,
                                            result.reply.retry_after_ms, start + result.duration});
  result.error = std::move(failure);
  co_return result;
}

}  // namespace

void set_decision_headers(const RouteContext& ctx, ResponseWriter& out, std::size_t attempts) {
  out.set_header("x-switchyard-route", ctx.route);
  if (ctx.chosen) {
    out.set_header("x-switchyard-model", ctx.chosen->model->name);
    out.set_header("x-switchyard-upstream", ctx.chosen->upstream_config->name);
  }
  out.set_header("x-switchyard-attempts", std::to_string(attempts));
  if (ctx.cache.capture) out.set_header("x-switchyard-cache", "miss");
  if (ctx.request.debug && !ctx.decision.empty())
    out.set_header("x-switchyard-decision", decision_json(ctx.decision));
  if (!ctx.upstream_request_id.empty())
    out.set_header("x-upstream-request-id", ctx.upstream_request_id);
}

double spent_usd(const RouteContext& ctx) {
  double usd = 0;
  for (const AttemptRecord& a : ctx.attempts) usd += a.cost_usd;
  return usd;
}

Task<CallResult> call(RouteContext& ctx, const Target& target, CallOptions options) {
  return run_call(ctx, target, nullptr, options);
}

Task<CallResult> call_streaming(RouteContext& ctx, const Target& target, ResponseWriter& out) {
  return run_call(ctx, target, &out, {});
}

Task<Answered> answer_with(RouteContext& ctx, const Target& target, ResponseWriter& out) {
  Answered a;
  // Not a ?: — GCC 12 miscompiles co_await inside a conditional expression.
  if (ctx.request.stream)
    a.call = co_await call_streaming(ctx, target, out);
  else
    a.call = co_await call(ctx, target);
  if (a.call.committed) {
    a.done = true;
    if (a.call.error) a.result = *a.call.error;
  } else if (a.call.ok()) {
    a.done = true;
    a.result = co_await commit(ctx, a.call, out);
  }
  co_return a;
}

Task<std::vector<CallResult>> call_all(RouteContext& ctx, std::vector<const Target*> targets,
                                       CallOptions options) {
  namespace net = boost::asio;
  // A parallel group of no operations never completes.
  if (targets.empty()) co_return std::vector<CallResult>{};
  const auto executor = co_await net::this_coro::executor;
  using Op = decltype(net::co_spawn(executor, call(ctx, *targets.front()), net::deferred));
  std::vector<Op> ops;
  ops.reserve(targets.size());
  for (const Target* t : targets)
    ops.push_back(net::co_spawn(executor, call(ctx, *t, options), net::deferred));
  auto [order, exceptions, results] =
      co_await net::experimental::make_parallel_group(std::move(ops))
          .async_wait(net::experimental::wait_for_all(), net::use_awaitable);
  for (std::size_t i = 0; i < results.size(); ++i)
    if (exceptions[i]) {  // call() reports failures as results; this is a bug, not an upstream
      results[i].target = targets[i];
      results[i].error = make_error(Reason::internal, "the call threw");
    }
  co_return std::move(results);
}

Task<Result<CallResult>> ask_in_order(RouteContext& ctx, const std::vector<const Target*>& targets,
                                      const ApiRequest& request) {
  Error last = make_error(Reason::upstream_saturated, "no upstream");
  for (const Target* t : targets) {
    CallResult r = co_await call(ctx, *t, {.request = &request});
    if (r.ok() && r.reply.status < 300) co_return std::move(r);
    if (r.ok()) co_return make_error(Reason::upstream_status,
                                     fmt::format("{} answered HTTP {}", t->model->name,
                                                 r.reply.status));
    if (r.error->reason == Reason::cancelled || !is_retryable(*r.error)) co_return *r.error;
    last = std::move(*r.error);
  }
  co_return last;
}

Task<Result<void>> commit(RouteContext& ctx, const CallResult& result, ResponseWriter& out) {
  const Added added{result.logprobs_added, result.choices_added > 0, result.keep_choice};
  const bool undo = added.logprobs || added.choices;
  if (result.events.empty()) {
    choose(ctx, result);
    set_answer_headers(ctx, result, out);
    out.set_header("x-switchyard-cost-usd", fmt_cost(spent_usd(ctx)));
    std::string_view content_type = result.reply.content_type;
    if (content_type.empty()) content_type = "application/json";
    bool emptied = false;
    const std::string rewritten =
        undo ? as_asked(result.reply.body, added, emptied) : std::string();
    const std::string_view body = undo ? rewritten : result.reply.body;
    if (ctx.cache.capture) ctx.cache.capture_body(result.reply.status, content_type, body);
    co_return co_await out.send(result.reply.status, content_type, body);
  }
  CallSink::begin_stream(ctx, result, out);
  std::size_t unflushed = 0;
  for (const auto& event : result.events) {
    const std::string rewritten = undo ? event_as_asked(event, added) : std::string();
    if (undo && rewritten.empty()) continue;
    const std::string_view e = undo ? rewritten : event;
    if (ctx.cache.capture) ctx.cache.capture_event(e);
    const std::string priced =
        is_usage_only_chunk(e) ? with_usage_cost(e, spent_usd(ctx)) : std::string();
    const std::string_view sent = priced.empty() ? e : std::string_view(priced);
    if (write_kept(out, sent, unflushed))
      if (auto r = co_await out.flush(); !r) co_return r;
  }
  co_return co_await end_stream(ctx, result, out, nullptr, spent_usd(ctx));
}

Task<Result<void>> replay(RouteContext& ctx, const CachedAnswer& answer, ResponseWriter& out) {
  out.set_header("x-switchyard-route", ctx.route);
  out.set_header("x-switchyard-model", answer.model);
  out.set_header("x-switchyard-attempts", "0");
  out.set_header("x-switchyard-cache", "hit");
  if (answer.events.empty()) {
    out.set_header("x-switchyard-cost-usd", fmt_cost(0));
    co_return co_await out.send(answer.status, answer.content_type, answer.body);
  }
  out.set_header("trailer", "x-switchyard-cost-usd");
  out.begin_stream();
  std::size_t unflushed = 0;
  for (const auto& event : answer.events)
    if (write_kept(out, event, unflushed))
      if (auto r = co_await out.flush(); !r) co_return r;
  out.set_trailer("x-switchyard-cost-usd", fmt_cost(0));
  co_return co_await out.end_stream();
}

Error all_attempts_failed(const RouteContext& ctx, Error last) {
  if (ctx.attempts.size() <= 1) return last;  // its own message says it best
  std::string msg = "all " + std::to_string(ctx.attempts.size()) + " attempts failed:";
  for (std::size_t i = 0; i < ctx.attempts.size(); ++i) {
    const auto& a = ctx.attempts[i];
    msg += fmt::format(" [{}] {}/{}: {}", i + 1, a.target->upstream_config->name,
                       a.target->model->name,
                       a.reason == Reason::upstream_status ? "HTTP " + std::to_string(a.status)
                                                           : std::string(reason_name(a.reason)));
    last.attempts.push_back(AttemptError{a.target->upstream_config->name, a.target->model->name,
                                         a.status, a.reason, a.message});
  }
  last.message = msg + ". Last: " + last.message;
  return last;
}

}  // namespace switchyard

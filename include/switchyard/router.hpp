// The per-request types of the router chain: the parsed request, its candidates (Targets), the
// calls made and the writer the answer goes to. Selection stages narrow or reorder candidates
// without I/O, then exactly one dispatcher calls upstreams and writes the response; both are
// declared with their factories in switchyard/extension.hpp.
#pragma once

#include "switchyard/clock.hpp"
#include "switchyard/config.hpp"
#include "switchyard/error.hpp"
#include "switchyard/live.hpp"
#include "switchyard/upstream.hpp"

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace switchyard {

struct ModelMetrics;  // metrics/metrics.hpp: handles resolved once per snapshot
struct Snapshot;      // router/snapshot.hpp: the immutable compiled config
struct CompiledRoute;  // router/snapshot.hpp: one route of it

enum class Endpoint : std::uint8_t { chat_completions, completions, embeddings };

// A byte range [begin, end) of ApiRequest::body.
struct BodySpan {
  std::size_t begin = 0;
  std::size_t end = 0;
  bool empty() const { return begin == end; }
};

// What the router knows of a request's prompt, read in the request's one parse (api/prompt.hpp):
// the text stages classify and the shape of the conversation.
struct PromptInfo {
  // Chat: the last user message's text (a string content, or its text parts concatenated);
  // completions: the prompt; embeddings: the input (an array's strings joined by "\n").
  std::string text;
  std::string system;  // chat: the system and developer messages' text, joined by "\n"
  std::uint32_t messages = 0;    // chat: messages in the list
  std::uint32_t user_turns = 0;  // chat: of them, the user's
  std::uint64_t chars = 0;       // bytes of text in every message (or the prompt, the input)
  bool images = false;           // chat: a content part is an image
  bool tools = false;            // a non-empty `tools` or `functions` list
  bool json_output = false;      // response_format asks for JSON (json_object or json_schema)
  // Chat: what conversation_of() (api/prompt.hpp) hashes, the conversation's first turn, kept
  // so that only a stage that asks pays for the hash: the system text's length when the first
  // user message ended, and, once there is a second, that first message's hash.
  std::size_t system_at_first_turn = 0;
  std::uint64_t first_turn = 0;
};

// The client's request, parsed once (api/request.hpp). Owned by the session for the whole
// request. The body is kept as the client's bytes; dispatchers forward it with forward_body().
struct ApiRequest {
  Endpoint endpoint = Endpoint::chat_completions;
  std::string body;     // as received
  std::string model;    // as the client sent it
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage
  BodySpan logprobs_value;         // the value of a top-level "logprobs"; empty if absent
  BodySpan model_value;            // the JSON string after "model":
  BodySpan stream_options_member;  // "stream_options": {...}, key to value end; empty if absent
  BodySpan stream_options_value;   // the {...}
  BodySpan n_value;                // the value of a top-level "n"; empty if absent
  PromptInfo prompt;
  // Client headers the OpenAI API defines that are forwarded upstream (OpenAI-Beta, …).
  std::vector<std::pair<std::string, std::string>> headers;
  std::string request_id;
  bool debug = false;  // x-switchyard-debug: 1 — answer with x-switchyard-decision
  // The caller's limits for this request (x-switchyard-max-cost-usd, -max-latency-ms), which a
  // scorer stage honours.
  std::optional<double> max_cost_usd;
  std::optional<double> max_latency_ms;
  // What ties the request to a conversation for session stickiness: the x-session-id header,
  // else the body's prompt_cache_key, else its user; empty if none.
  std::string session;

  // Whether the client asks for logprobs: "logprobs": true.
  bool asks_logprobs() const {
    return std::string_view(body).substr(logprobs_value.begin,
                                         logprobs_value.end - logprobs_value.begin) == "true";
  }
  // Whether the client asks for one choice: no "n", or "n": 1.
  bool asks_one_choice() const {
    return n_value.empty() ||
           std::string_view(body).substr(n_value.begin, n_value.end - n_value.begin) == "1";
  }
};

// One (upstream, model) pair a request can be sent to. Points into the Snapshot, which outlives
// every request that uses it.
struct Target {
  std::uint32_t upstream = 0;  // index into Snapshot::upstreams and the worker's UpstreamSet
  const UpstreamConfig* upstream_config = nullptr;
  const ModelConfig* model = nullptr;
  const ModelMetrics* metrics = nullptr;  // for (route, model)
  TargetState* state = nullptr;  // live state of (upstream, model); outlives the snapshot
};

// Whether two targets of one snapshot send to the same model on the same upstream (a route's
// stages and dispatcher each hold their own Target for it).
inline bool same_target(const Target& a, const Target& b) {
  return a.model == b.model && a.upstream == b.upstream;
}

struct Usage {
  std::uint64_t input_tokens = 0;
  std::uint64_t output_tokens = 0;
  bool reported = false;  // false: estimated by the gateway
};

// One upstream call, in order, for the access log, metrics and x-switchyard-attempts. A call
// appends its record when it starts and completes it when it ends.
struct AttemptRecord {
  const Target* target = nullptr;
  int status = 0;  // the upstream's HTTP status, 0 if none
  bool ok = false;
  Reason reason = Reason::internal;  // when !ok
  std::string message;               // when !ok
  SteadyTime start{};  // by the request's Clock; records are in the order their calls started
  std::chrono::nanoseconds duration{0};
  double cost_usd = 0;  // what the call cost, answer or not (a client's budget is charged it)
  std::uint64_t tokens = 0;  // input and output tokens it used
};

// One upstream call's answer, as data: nothing of it reaches the client until a dispatcher
// commits it (commit() in switchyard/extension.hpp), unless the call was made to stream straight through
// (`committed`). Owned by the dispatcher that made the call.
struct CallResult {
  const Target* target = nullptr;
  // Set when the call produced no answer worth committing: a transport failure, a timeout, an
  // upstream 5xx / 429 / 401 / 403, a body that is not JSON. An upstream 4xx that every
  // candidate would give (a bad request) is an answer, not an error.
  std::optional<Error> error;
  UpstreamReply reply;              // status, headers, request id; the body of a complete answer
  std::vector<std::string> events;  // a buffered stream's events, each "data: ...\n\n"; when
                                    // there are any, they are the answer (not reply.body)
  std::string sent;                 // the body sent upstream (the client's, with this model id)
  Usage usage;
  double cost_usd = 0;
  std::chrono::nanoseconds duration{0};
  std::chrono::nanoseconds time_to_first_token{-1};
  bool committed = false;  // it went to the client as it arrived (a stream passed through)
  bool logprobs_added = false;  // asked for logprobs the client did not ask for (CallOptions)
  // Asked for this many choices ("n") where the client asked for one (CallOptions::samples);
  // then commit() sends only choice `keep_choice`, as choice 0. 0 when none were added.
  std::uint32_t choices_added = 0;
  std::uint32_t keep_choice = 0;

  bool ok() const { return !error; }
};

// Why the candidates are what they are, written by the stages that decide (a classifier's labels,
// a learned router's predictions) for the access log and x-switchyard-decision. Names point into
// the snapshot's stages, which outlive every request on it.
struct Decision {
  struct Label {
    std::string_view name;
    double confidence = 0;
  };
  struct Prediction {
    const Target* target = nullptr;
    double quality = 0;   // the expected quality of its answer, 0..1
    double cost_usd = 0;  // the expected cost of the call
    double score = 0;     // what the candidates were ordered by, highest first
  };
  std::vector<Label> labels;            // every rule that matched, in rule order
  std::string_view tier;                // the tier the candidates came from, if any
  bool fallback = false;                // the deciding label was below min_confidence
  std::vector<Prediction> predictions;  // per candidate, in the order chosen
  // Candidates moved behind the others because their circuit breaker is open (resolve.hpp).
  std::vector<const Target*> demoted;
  bool sticky = false;  // the session's pinned model was moved first (router/sticky)
  // What a bandit stage chose (router/bandit): in shadow mode only logged, not routed to.
  struct Bandit {
    const Target* target = nullptr;
    bool explored = false;  // not the model it currently expects to be best
    bool shadow = false;
  } bandit;

  bool empty() const {
    return labels.empty() && tier.empty() && predictions.empty() && demoted.empty() && !sticky &&
           !bandit.target;
  }
};

// An answer as the client got it, kept by the response cache (router/cache/): a JSON body, or a
// stream's events. Immutable once kept; shared by every request it answers.
struct CachedAnswer {
  int status = 200;
  std::string content_type;
  std::string body;                 // when not a stream
  std::vector<std::string> events;  // a stream's, each "data: ...\n\n"
  std::string model;                // the model that gave it
  std::size_t bytes = 0;            // of body and events
};

// A request's dealings with the response cache, set by a cache stage. On a hit the answer is
// served instead of any dispatch. On a miss (`capture`) commit() copies the answer it commits
// into `answer`, up to `max_bytes`, for the stage to keep once the request succeeded.
struct CacheSlot {
  std::shared_ptr<const CachedAnswer> hit;
  bool capture = false;  // a miss that may be kept
  std::string key;
  CachedAnswer answer;
  std::size_t max_bytes = 0;
  bool too_large = false;  // the answer outgrew max_bytes: not kept
  bool skipped = false;    // the stage saw a request it may not cache (not deterministic)

  // Copies a committed body or event, unless the answer has outgrown max_bytes. Call only on a miss.
  void capture_body(int status, std::string_view content_type, std::string_view body);
  void capture_event(std::string_view event);
};

struct RouteContext;

// A stage that wants to learn how its request ended: the response cache keeps the answer,
// session stickiness pins the model that gave it. A stage adds itself to
// RouteContext::on_success while it decides; the gateway calls succeeded() once the answer has
// been written, on the request's worker, and not at all for a request that failed or was
// cancelled. The stage outlives the request (its snapshot does).
class SuccessHook {
 public:
  virtual ~SuccessHook() = default;
  virtual void succeeded(RouteContext& ctx) const = 0;
};

// Who is calling, from their key (router/clients.hpp). Points into the Snapshot.
struct Caller {
  std::string_view name;  // the key's name; empty when no keys are configured
  std::string_view tier = "standard";
  const std::vector<std::string>* routes = nullptr;  // the routes it may call; null: any
  const std::vector<std::string>* models = nullptr;  // the models it may be routed to; null: any
  double budget_used = 0;  // the larger share of its daily and monthly budgets spent, 0 if none
};

// The worker's upstreams for the snapshot a request runs on. Owned by the worker.
class UpstreamSet {
 public:
  virtual ~UpstreamSet() = default;
  virtual Upstream& at(std::uint32_t index) = 0;
};

// Per-request routing state, owned by the session for the request's lifetime.
struct RouteContext {
  RouteContext(const Snapshot& s, ApiRequest& r, UpstreamSet& u, Clock& c = system_clock())
      : snapshot(s), request(r), upstreams(u), clock(c) {}

  const Snapshot& snapshot;
  ApiRequest& request;
  UpstreamSet& upstreams;
  Clock& clock;  // what stages, calls and timers read time from
  // The wall-clock time the request began, for what depends on the time of day (a scorer's
  // peak-hour windows); tests set it.
  std::chrono::system_clock::time_point wall_time = std::chrono::system_clock::now();
  std::string_view route;          // a route name, or "passthrough" for a concrete model
  const CompiledRoute* compiled = nullptr;  // the route `route` names; null for passthrough
  // The route the client asked for when it splits traffic (an A/B experiment); `route` is then
  // the arm that served it, this route itself or its split's arm. Empty otherwise.
  std::string_view experiment;
  Caller caller;
  CacheSlot cache;
  std::string session;  // the session key a sticky stage pinned or looked up; empty if none
  std::vector<const SuccessHook*> on_success;
  std::vector<const Target*> candidates;  // in preference order
  Decision decision;
  std::vector<AttemptRecord> attempts;
  const Target* chosen = nullptr;  // the target whose answer reached the client
  Usage usage;  // the committed answer's; what every call cost is in `attempts`
  std::chrono::nanoseconds time_to_first_token{-1};
  std::string upstream_request_id;
};

// Writes the response to the client. Implemented by the HTTP session; not thread-safe; every call
// completes on the worker's executor. After begin_stream or send, headers can no longer change.
// A stream's head and events wait in the writer's memory until flush() or end_stream(), so that
// the events of one upstream read reach the client in one write: call flush() whenever no more
// events are at hand. A write returns Reason::cancelled once the client has gone away.
class ResponseWriter {
 public:
  virtual ~ResponseWriter() = default;
  virtual void set_header(std::string_view name, std::string_view value) = 0;
  // A trailer sent with the end of a stream (declared in a `trailer` header beforehand).
  virtual void set_trailer(std::string_view name, std::string_view value) = 0;
  virtual Task<Result<void>> send(int status, std::string_view content_type,
                                  std::string_view body) = 0;
  // A 200 event stream: its head, then its events, kept until the next flush() or end_stream().
  virtual void begin_stream() = 0;
  virtual void write_event(std::string_view event) = 0;
  virtual Task<Result<void>> flush() = 0;  // writes what begin_stream and write_event keep
  virtual Task<Result<void>> end_stream() = 0;
  virtual bool started() const = 0;
};

}  // namespace switchyard

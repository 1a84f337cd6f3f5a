#include "offline/replay.hpp"

#include "api/request.hpp"
#include "router/resolve.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <exception>

namespace switchyard::offline {

namespace {

using nlohmann::json;

// Where a call's answer comes from: the record being replayed, and what its calls cost so far.
struct Current {
  const OutcomeRecord* record = nullptr;
  PromptResult result;
};

// One configured upstream, answering from the record. It recognises the model asked by the
// forwarded body's first member, which the replayer writes first and forward_body() rewrites in
// place to `{"model":<the upstream's id>`.
class RecordedUpstream final : public Upstream {
 public:
  RecordedUpstream(Current& current, std::vector<std::pair<std::string, int>> prefixes)
      : current_(current), prefixes_(std::move(prefixes)) {}

  Task<Result<UpstreamReply>> complete(const OutboundRequest& request) override {
    co_return answer(request, nullptr);
  }

  Task<Result<UpstreamReply>> stream(const OutboundRequest& request, ChunkSink& sink) override {
    std::string content;
    auto reply = answer(request, &content);
    if (reply.status != 200) co_return reply;
    reply.content_type = "text/event-stream";
    sink.on_head(reply);
    const std::string events[] = {
        "data: " + json{{"choices", {{{"index", 0}, {"delta", {{"content", content}}}}}}}.dump() +
            "\n\n",
        "data: " + json{{"choices", json::array()}, {"usage", usage_}}.dump() + "\n\n",
        "data: [DONE]\n\n"};
    for (const auto& e : events)
      if (auto r = sink.on_event(e); !r) co_return r.error();
    reply.body.clear();
    co_return reply;
  }

 private:
  // The recorded answer as a chat completion (its text in `*content` too, for a stream), or a
  // 503 when the file has no answer of that model to this prompt, or the call asks something
  // else (a judge's prompt: its messages are not the record's).
  UpstreamReply answer(const OutboundRequest& request, std::string* content) {
    UpstreamReply reply;
    reply.content_type = "application/json";
    const Outcome* o = nullptr;
    if (request.body.find(R"(,"logprobs":true)") != std::string_view::npos)
      ++current_.result.logprobs_asked;
    if (request.body.find(R"(,"n":)") != std::string_view::npos) ++current_.result.choices_asked;
    if (request.body.find(current_.record->messages) == std::string_view::npos)
      ++current_.result.unrecorded;
    else
      for (const auto& [prefix, model] : prefixes_)
        if (request.body.starts_with(prefix)) {
          if (const auto& slot = current_.record->outcomes[static_cast<std::size_t>(model)]) {
            o = &*slot;
            current_.result.cost += o->cost_usd;
          }
          break;
        }
    ++current_.result.calls;
    if (!o) {
      reply.status = 503;
      reply.body = R"({"error":{"message":"no recorded answer","type":"server_error"}})";
      return reply;
    }
    const auto prompt_tokens = current_.record->messages.size() / 4 + 1;
    usage_ = {{"prompt_tokens", prompt_tokens},
              {"completion_tokens", o->output_tokens},
              {"total_tokens", prompt_tokens + o->output_tokens}};
    reply.status = 200;
    if (content) *content = o->response;
    reply.body = json{{"id", "eval"},
                      {"object", "chat.completion"},
                      {"created", 0},
                      {"choices",
                       {{{"index", 0},
                         {"message", {{"role", "assistant"}, {"content", o->response}}},
                         {"finish_reason", "stop"}}}},
                      {"usage", usage_}}
                     .dump();
    return reply;
  }

  Current& current_;
  std::vector<std::pair<std::string, int>> prefixes_;  // `{"model":"<id>"` → file model
  json usage_;
};

class RecordedUpstreams final : public UpstreamSet {
 public:
  Upstream& at(std::uint32_t index) override { return *upstreams[index]; }
  std::vector<std::unique_ptr<RecordedUpstream>> upstreams;
};

// The client side: only whether an answer was committed matters.
class NullWriter final : public ResponseWriter {
 public:
  void set_header(std::string_view, std::string_view) override {}
  void set_trailer(std::string_view, std::string_view) override {}
  Task<Result<void>> send(int s, std::string_view, std::string_view) override {
    status = s;
    co_return Result<void>{};
  }
  void begin_stream() override { status = 200; }
  void write_event(std::string_view) override {}
  Task<Result<void>> flush() override { co_return Result<void>{}; }
  Task<Result<void>> end_stream() override { co_return Result<void>{}; }
  bool started() const override { return status != 0; }
  int status = 0;
};

}  // namespace

struct Replayer::State {
  std::shared_ptr<const Snapshot> snapshot;
  std::string route;
  std::unordered_map<const ModelConfig*, int> model_of;  // the configured models the file has
  Current current;
  RecordedUpstreams upstreams;
  boost::asio::io_context io{1};
};

Replayer::Replayer(std::shared_ptr<const Snapshot> snapshot, std::string route,
                   const std::unordered_map<std::string, int>& model_of_name)
    : state_(std::make_unique<State>()) {
  auto& s = *state_;
  s.snapshot = std::move(snapshot);
  s.route = std::move(route);
  for (const auto& u : s.snapshot->config.upstreams) {
    std::vector<std::pair<std::string, int>> prefixes;
    for (const auto& m : u.models)
      if (auto it = model_of_name.find(m.name); it != model_of_name.end()) {
        s.model_of.emplace(&m, it->second);
        prefixes.emplace_back(R"({"model":)" + json(m.id).dump(), it->second);
      }
    s.upstreams.upstreams.push_back(
        std::make_unique<RecordedUpstream>(s.current, std::move(prefixes)));
  }
}

Replayer::~Replayer() = default;

PromptResult Replayer::run(const OutcomeRecord& record) {
  auto& s = *state_;
  s.current = {&record, {}};
  auto request = parse_api_request(
      Endpoint::chat_completions,
      R"({"model":)" + json(s.route).dump() + R"(,"messages":)" + record.messages + "}");
  if (!request) return s.current.result;  // a prompt the gateway would refuse earns nothing
  RouteContext ctx(*s.snapshot, *request, s.upstreams);
  auto dispatcher = resolve(ctx);
  if (!dispatcher) return s.current.result;
  std::erase_if(ctx.candidates, [&](const Target* t) { return !s.model_of.contains(t->model); });
  NullWriter out;
  boost::asio::co_spawn(s.io, (*dispatcher)->dispatch(ctx, out),
                        [](std::exception_ptr e, const Result<void>&) {
                          if (e) std::rethrow_exception(e);
                        });
  s.io.run();
  s.io.restart();
  if (ctx.chosen) {
    auto it = s.model_of.find(ctx.chosen->model);
    if (it != s.model_of.end())
      if (const auto& o = record.outcomes[static_cast<std::size_t>(it->second)]) {
        s.current.result.chosen = it->second;
        s.current.result.quality = o->quality;
      }
  }
  return s.current.result;
}

}  // namespace switchyard::offline

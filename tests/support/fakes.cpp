#include "support/fakes.hpp"

#include "api/request.hpp"
#include "router/resolve.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cctype>

namespace switchyard::test {

namespace {

nlohmann::json parsed(std::string_view body) {
  auto j = nlohmann::json::parse(body, nullptr, false);
  return j.is_object() ? j : nlohmann::json::object();
}

std::string model_of(const nlohmann::json& body) {
  return body.contains("model") && body["model"].is_string() ? body["model"].get<std::string>()
                                                             : "";
}

// The "n" the body asks for, 1 when none.
std::size_t choices_of(const nlohmann::json& body) {
  return body.contains("n") && body["n"].is_number_unsigned() ? body["n"].get<std::size_t>() : 1;
}

// What "say=TEXT" or "say=TEXT|REASON" asks to answer: TEXT, finished for REASON (or "stop");
// for choice `i` of several, the i-th of TEXT's ';'-separated parts (cycling), else all of it.
std::pair<std::string, std::string> said(const std::string& model, std::size_t n = 1,
                                         std::size_t i = 0) {
  if (!model.starts_with("say=")) return {"hi", "stop"};
  const auto bar = model.find('|');
  std::string text = model.substr(4, bar == std::string::npos ? std::string::npos : bar - 4);
  std::string reason = bar == std::string::npos ? "stop" : model.substr(bar + 1);
  if (n <= 1) return {text, reason};
  std::vector<std::string> parts;
  for (std::size_t at = 0;;) {
    const auto semi = text.find(';', at);
    parts.push_back(text.substr(at, semi == std::string::npos ? semi : semi - at));
    if (semi == std::string::npos) break;
    at = semi + 1;
  }
  return {parts[i % parts.size()], reason};
}

std::string completion(const std::string& model, std::size_t n) {
  auto choices = nlohmann::json::array();
  for (std::size_t i = 0; i < n; ++i) {
    const auto [text, reason] = said(model, n, i);
    choices.push_back({{"index", i},
                       {"message", {{"role", "assistant"}, {"content", text}}},
                       {"finish_reason", reason}});
  }
  return R"({"id":"fake","object":"chat.completion","model":)" + nlohmann::json(model).dump() +
         R"(,"choices":)" + choices.dump() +
         R"(,"usage":{"prompt_tokens":7,"completion_tokens":)" + std::to_string(3 * n) + "}}";
}

// An embeddings answer for "/embeddings": each input's letter counts, a through z, so that texts
// of the same letters point the same way.
std::string embeddings(const nlohmann::json& body) {
  auto data = nlohmann::json::array();
  std::vector<std::string> inputs;
  if (body.contains("input") && body["input"].is_string()) inputs.push_back(body["input"]);
  if (body.contains("input") && body["input"].is_array())
    for (const auto& x : body["input"]) inputs.push_back(x.is_string() ? x.get<std::string>() : "");
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    std::vector<int> counts(26, 0);
    for (char c : inputs[i])
      if (std::isalpha(static_cast<unsigned char>(c)))
        ++counts[static_cast<std::size_t>(std::tolower(static_cast<unsigned char>(c)) - 'a')];
    data.push_back({{"object", "embedding"}, {"index", i}, {"embedding", counts}});
  }
  return nlohmann::json{{"object", "list"},
                        {"data", std::move(data)},
                        {"usage", {{"prompt_tokens", 5}, {"total_tokens", 5}}}}
      .dump();
}

// The failure a model id asks for, if any.
std::optional<Result<UpstreamReply>> failure(const std::string& model) {
  if (model == "connect") return Result<UpstreamReply>(make_error(Reason::connect, "fake refused"));
  if (model == "timeout")
    return Result<UpstreamReply>(make_error(Reason::timeout_first_token, "fake timeout"));
  if (model.starts_with("status=")) {
    UpstreamReply r;
    r.status = std::stoi(model.substr(7));
    r.body = R"({"error":{"message":"fake","type":"api_error","param":null,"code":null}})";
    r.content_type = "application/json";
    return Result<UpstreamReply>(std::move(r));
  }
  return std::nullopt;
}

// "slow=N[,MODEL]": sleeps N ms, then behaves as MODEL (default "ok").
Task<Result<void>> slow_down(Clock& clock, std::string& model) {
  if (!model.starts_with("slow=")) co_return Result<void>{};
  const auto delay = std::chrono::milliseconds(std::stoi(model.substr(5)));
  if (auto r = co_await clock.sleep_until(clock.now() + delay); !r) co_return r;
  const auto comma = model.find(',');
  model = comma == std::string::npos ? "ok" : model.substr(comma + 1);
  co_return Result<void>{};
}

}  // namespace

Task<Result<UpstreamReply>> FakeUpstream::complete(const OutboundRequest& request) {
  bodies.emplace_back(request.body);
  const auto body = parsed(request.body);
  auto model = model_of(body);
  if (model.starts_with("fail-first=")) {
    const auto colon = model.find(':');
    if (bodies.size() <= std::stoul(model.substr(11, colon - 11))) {
      UpstreamReply r = std::move(failure("status=503")->value());
      if (colon != std::string::npos) r.retry_after_ms = std::stoul(model.substr(colon + 1));
      co_return r;
    }
    model = "ok";
  }
  if (auto r = co_await slow_down(*clock, model); !r) co_return r.error();
  if (auto f = failure(model)) co_return std::move(*f);
  UpstreamReply r;
  r.status = 200;
  r.body = request.path == "/embeddings" ? embeddings(body) : completion(model, choices_of(body));
  r.content_type = "application/json";
  co_return r;
}

Task<Result<UpstreamReply>> FakeUpstream::stream(const OutboundRequest& request, ChunkSink& sink) {
  bodies.emplace_back(request.body);
  const auto body = parsed(request.body);
  auto model = model_of(body);
  if (auto r = co_await slow_down(*clock, model); !r) co_return r.error();
  if (auto f = failure(model)) co_return std::move(*f);
  UpstreamReply head;
  head.status = 200;
  head.content_type = "text/event-stream";
  sink.on_head(head);
  if (model == "stall") {  // a token, then nothing for 10 s
    const std::string first = R"(data: {"choices":[{"index":0,"delta":{"content":"one"}}]})";
    if (auto r = sink.on_event(first + "\n\n"); !r) co_return r.error();
    if (auto r = co_await sink.on_pause(); !r) co_return r.error();
    if (auto r = co_await clock->sleep_until(clock->now() + std::chrono::seconds(10)); !r)
      co_return r.error();
  }
  std::vector<std::string> events;
  if (model.starts_with("say=")) {
    // Each choice's content, then each one's finish, as OpenAI interleaves them.
    const std::size_t n = choices_of(body);  // and 3 tokens each
    for (const bool finish : {false, true})
      for (std::size_t i = 0; i < n; ++i) {
        const auto [text, reason] = said(model, n, i);
        nlohmann::json choice = {{"index", i}, {"delta", nlohmann::json::object()}};
        if (finish) choice["finish_reason"] = reason;
        else choice["delta"]["content"] = text;
        events.push_back("data: " + nlohmann::json{{"choices", {choice}}}.dump() + "\n\n");
      }
  } else {
    for (const char* word : {"one", "two", "three"})
      events.push_back(std::string(R"(data: {"choices":[{"index":0,"delta":{"content":")") +
                       word + "\"}}]}\n\n");
  }
  events.push_back(R"(data: {"choices":[],"usage":{"prompt_tokens":7,"completion_tokens":)" +
                   std::to_string(3 * choices_of(body)) + "}}\n\n");
  events.push_back("data: [DONE]\n\n");
  for (const auto& e : events)
    if (auto r = sink.on_event(e); !r) co_return r.error();
  co_return head;
}

void RecordingWriter::set_header(std::string_view name, std::string_view value) {
  headers[std::string(name)] = std::string(value);
}

void RecordingWriter::set_trailer(std::string_view name, std::string_view value) {
  trailers[std::string(name)] = std::string(value);
}

Task<Result<void>> RecordingWriter::send(int s, std::string_view, std::string_view b) {
  status = s;
  body = std::string(b);
  ended = true;
  co_return Result<void>{};
}

void RecordingWriter::begin_stream() { status = 200; }

void RecordingWriter::write_event(std::string_view event) { events.emplace_back(event); }

Task<Result<void>> RecordingWriter::flush() {
  ++flushes;
  co_return Result<void>{};
}

Task<Result<void>> RecordingWriter::end_stream() {
  ended = true;
  co_return Result<void>{};
}

std::shared_ptr<const Snapshot> snapshot_from_yaml(Metrics& metrics, const std::string& yaml) {
  auto cfg = parse_config(yaml, "t.yaml");
  EXPECT_TRUE(cfg.config) << cfg.error;
  if (!cfg.config) return nullptr;
  auto built = build_snapshot(std::move(*cfg.config), metrics);
  EXPECT_TRUE(built.snapshot) << built.error;
  return built.snapshot;
}

std::string snapshot_error(Metrics& metrics, const std::string& yaml) {
  auto cfg = parse_config(yaml, "t.yaml");
  if (!cfg.config) return cfg.error;
  return build_snapshot(std::move(*cfg.config), metrics).error;
}

std::shared_ptr<const Snapshot> two_upstreams(Metrics& metrics, const std::string& first,
                                              const std::string& second) {
  return snapshot_from_yaml(metrics, R"(
upstreams:
  - name: a
    base_url: http://127.0.0.1:1/v1
    models:
      - name: m
        id: ")" + first + R"("
        price_usd_per_mtok: {input: 1, output: 2}
  - name: b
    base_url: http://127.0.0.1:1/v1
    models:
      - name: m
        id: ")" + second + R"("
        price_usd_per_mtok: {input: 1, output: 2}
)");
}

ApiRequest chat_request(const std::string& extra) {
  auto r = parse_api_request(
      Endpoint::chat_completions,
      R"({"model":"m","messages":[{"role":"user","content":"x"}])" + extra + "}");
  EXPECT_TRUE(r);
  return std::move(*r);
}

template <class T>
T run(Task<T> task) {
  boost::asio::io_context io;
  auto done = boost::asio::co_spawn(io, std::move(task), boost::asio::use_future);
  io.run();
  return done.get();
}

template Result<void> run(Task<Result<void>>);

Dispatched dispatch_request(const Snapshot& snap, FakeUpstreams& upstreams, ApiRequest request,
                            const Caller& caller) {
  Dispatched d;
  RouteContext ctx(snap, request, upstreams);
  ctx.caller = caller;
  auto dispatcher = resolve(ctx);
  EXPECT_TRUE(dispatcher) << dispatcher.error().message;
  if (!dispatcher) return d;
  const auto start = std::chrono::steady_clock::now();
  d.result = run((*dispatcher)->dispatch(ctx, d.out));
  d.took = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - start);
  for (const auto& a : ctx.attempts) {
    d.called.push_back(a.target->model->name);
    d.reasons.push_back(a.reason);
    d.costs.push_back(a.cost_usd);
  }
  return d;
}
template CallResult run(Task<CallResult>);
template std::string run(Task<std::string>);

}  // namespace switchyard::test

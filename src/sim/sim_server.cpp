#include "sim/sim_server.hpp"

#include "api/prompt.hpp"
#include "api/request.hpp"
#include "core/clock.hpp"
#include "core/workers.hpp"
#include "sim/generate.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <charconv>
#include <optional>
#include <cmath>

namespace switchyard {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;
using json = nlohmann::json;
using sim::Fleet;
using sim::SimModel;

struct SimServer::Tls {
  ssl::context ctx{ssl::context::tls_server};
};

namespace {

constexpr auto use_tuple = net::as_tuple(net::use_awaitable);
// Named, not literal: GCC 12 rejects string-literal arrays inside co_await expressions.
constexpr std::string_view kGarbage = "\x01\x02garbage\r\n\r\n";
constexpr std::string_view kDone = "data: [DONE]\n\n";
constexpr std::uint64_t kMaxPad = 64ull << 20;  // pad_bytes: enough to pass any sane body limit

// bad_json: the first half of the real text, so the framing is right and the JSON is not.
std::string spoil(std::string text) {
  text.resize(text.size() / 2);
  return text;
}

struct Script {
  std::uint32_t delay_ms = 0, status = 0, retry_after_s = 0, tokens = 0, token_interval_ms = 0;
  std::int64_t cut_after = -1, stall_after = -1, cut_body_at = -1, stall_body_at = -1;
  std::uint64_t pad_bytes = 0;
  bool garbage = false, reset = false, no_usage = false, ignore_stream = false,
       stall_first_byte = false, has_interval = false, bad_json = false, close_after = false;

  // Reads `key=value` / `flag` directives separated by `sep`. Returns the first directive that is
  // unknown or has a malformed value, empty if there is none: a typo in a test must fail it,
  // not quietly run without the fault.
  std::string apply(std::string_view text, char sep) {
    bool ok = true;
    auto take = [&](std::string_view v, auto& out) {
      auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
      ok = ec == std::errc() && p == v.data() + v.size();
    };
    while (!text.empty()) {
      auto end = text.find(sep);
      auto part = text.substr(0, end);
      text = end == std::string_view::npos ? std::string_view{} : text.substr(end + 1);
      while (!part.empty() && part.front() == ' ') part.remove_prefix(1);
      while (!part.empty() && part.back() == ' ') part.remove_suffix(1);
      if (part.empty()) continue;
      auto eq = part.find('=');
      auto key = part.substr(0, eq);
      auto val = eq == std::string_view::npos ? std::string_view{} : part.substr(eq + 1);
      const bool flag = eq == std::string_view::npos;
      ok = true;
      if (key == "delay_ms") take(val, delay_ms);
      else if (key == "status") take(val, status);
      else if (key == "retry_after_s") take(val, retry_after_s);
      else if (key == "tokens") take(val, tokens), tokens = std::min(tokens, 1u << 16);
      else if (key == "token_interval_ms") take(val, token_interval_ms), has_interval = true;
      else if (key == "cut_after") take(val, cut_after);
      else if (key == "stall_after") take(val, stall_after);
      else if (key == "cut_body_at") take(val, cut_body_at);
      else if (key == "stall_body_at") take(val, stall_body_at);
      else if (key == "pad_bytes") take(val, pad_bytes), pad_bytes = std::min(pad_bytes, kMaxPad);
      else if (key == "bad_json" && flag) bad_json = true;
      else if (key == "garbage" && flag) garbage = true;
      else if (key == "reset" && flag) reset = true;
      else if (key == "no_usage" && flag) no_usage = true;
      else if (key == "ignore_stream" && flag) ignore_stream = true;
      else if (key == "stall_first_byte" && flag) stall_first_byte = true;
      else if (key == "close_after_answer" && flag) close_after = true;
      else ok = false;
      if (!ok) return std::string(part);
    }
    return {};
  }
};

// Recorded answers may hold invalid UTF-8; replace it rather than throw.
std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

std::string error_body(std::string_view msg, std::string_view type, std::string_view code = {}) {
  return json{{"error",
               {{"message", msg},
                {"type", type},
                {"param", nullptr},
                {"code", code.empty() ? json(nullptr) : json(code)}}}}
      .dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string content_text(const json& content) {
  if (content.is_string()) return content.get<std::string>();
  std::string out;
  if (content.is_array())
    for (const auto& part : content)
      if (part.is_object() && part.value("type", "") == "text") out += part.value("text", "");
  return out;
}

// The prompt a dataset is keyed by (api/prompt.hpp: the last user message, or the prompt), and
// all input text for usage. `text` is the body `body` was parsed from.
struct Prompt {
  std::string last_user;
  std::size_t input_chars = 0;
  bool after_tool_result = false;  // the last message is a tool's answer
};

Prompt read_prompt(const json& body, std::string_view text, bool chat) {
  Prompt p;
  p.last_user = prompt_text(chat ? Endpoint::chat_completions : Endpoint::completions, text);
  p.input_chars = p.last_user.size();
  if (auto m = body.find("messages"); chat && m != body.end() && m->is_array()) {
    p.input_chars = 0;
    for (const auto& msg : *m) {
      if (!msg.is_object()) continue;
      p.input_chars += content_text(msg.value("content", json())).size() + 4;
      const auto role = msg.value("role", "");
      p.after_tool_result = role == "tool" || role == "function";
    }
  }
  if (auto tools = body.find("tools"); tools != body.end()) p.input_chars += dump(*tools).size();
  return p;
}

std::uint64_t tokens_for(std::size_t chars) { return std::max<std::uint64_t>(1, chars / 4); }

struct ChoicePlan {
  std::vector<std::string> pieces;  // stream events' text (content or tool arguments)
  std::string text;
  json tool_call;  // null, or {id, type, function: {name, arguments}}
  std::string finish = "stop";
  std::vector<double> logprobs;
  std::uint64_t tokens = 0;  // completion tokens reported for this choice
};

struct Plan {
  std::vector<ChoicePlan> choices;
  std::uint64_t prompt_tokens = 0, completion_tokens = 0;
  double quality = 0;
};

json logprob_entry(const std::string& token, double lp, int top, std::mt19937_64& rng) {
  auto bytes = [](const std::string& t) {
    json b = json::array();
    for (unsigned char c : t) b.push_back(c);
    return b;
  };
  json e = {{"token", token}, {"logprob", lp}, {"bytes", bytes(token)}, {"top_logprobs", json::array()}};
  for (int k = 0; k < top; ++k) {
    std::string alt = k == 0 ? token : sim::answer_words(rng(), 1)[0];
    double alp = k == 0 ? lp : lp - 1.0 - k;
    e["top_logprobs"].push_back({{"token", alt}, {"logprob", alp}, {"bytes", bytes(alt)}});
  }
  return e;
}

// Decides the whole answer before any time passes, so that streaming and non-streaming give
// the same content.
Plan make_plan(const json& body, std::string_view text, const SimModel& model, const Fleet& fleet,
               const Script& sc, bool chat) {
  Plan plan;
  const Prompt prompt = read_prompt(body, text, chat);
  plan.prompt_tokens = tokens_for(prompt.input_chars);
  const Outcome* recorded = nullptr;
  if (fleet.dataset)
    if (const auto* entry = fleet.dataset->find(prompt.last_user))
      if (auto it = entry->outcomes.find(model.name); it != entry->outcomes.end())
        recorded = &it->second;
  plan.quality = recorded ? recorded->quality
                          : sim::simulated_quality(model, prompt.last_user,
                                                   fleet.kind_of(prompt.last_user));

  const std::uint64_t seed = sim::hash_text(prompt.last_user, sim::hash_text(model.name));
  std::uint32_t n = 1;
  if (auto nn = body.find("n"); nn != body.end() && nn->is_number_unsigned())
    n = nn->get<std::uint32_t>();
  std::uint64_t max_tokens = 0;
  for (const char* k : {"max_completion_tokens", "max_tokens"})
    if (auto mt = body.find(k); mt != body.end() && mt->is_number_unsigned())
      max_tokens = mt->get<std::uint64_t>();
  std::vector<std::string> stops;
  if (auto st = body.find("stop"); st != body.end()) {
    if (st->is_string() && !st->get_ref<const std::string&>().empty())
      stops.push_back(st->get<std::string>());
    if (st->is_array())
      for (const auto& x : *st)
        if (x.is_string() && !x.get_ref<const std::string&>().empty()) stops.push_back(x);
  }
  // Only function tools can be called; other kinds (custom, …) are ignored.
  json function_tools = json::array();
  if (auto t = body.find("tools"); chat && t != body.end() && t->is_array())
    for (const auto& tool : *t)
      if (tool.is_object() && tool.value("type", "function") == "function" &&
          tool.contains("function") && tool["function"].is_object())
        function_tools.push_back(tool);
  const json* tools = function_tools.empty() ? nullptr : &function_tools;
  const json tool_choice = body.value("tool_choice", json("auto"));
  const json response_format = body.value("response_format", json::object());
  const bool want_logprobs = chat ? body.value("logprobs", false)
                                  : body.contains("logprobs") && body["logprobs"].is_number();

  for (std::uint32_t i = 0; i < n; ++i) {
    std::mt19937_64 rng(seed + i);
    ChoicePlan c;
    // Tools: forced by tool_choice, or (auto) when the prompt names a tool, or half the time,
    // but never right after a tool result: an agent loop must end.
    const json* call = nullptr;
    if (tools && tool_choice != "none") {
      if (tool_choice.is_object()) {
        auto want = tool_choice.value("function", json::object()).value("name", "");
        for (const auto& t : *tools)
          if (t.value("function", json::object()).value("name", "") == want) call = &t;
      } else if (tool_choice == "required" ||
                 (!prompt.after_tool_result && sim::hash_text(prompt.last_user) % 2 == 0)) {
        call = &(*tools)[0];
      }
      if (tool_choice == "auto" && !prompt.after_tool_result)
        for (const auto& t : *tools) {
          auto name = t.value("function", json::object()).value("name", "");
          if (!name.empty() && prompt.last_user.find(name) != std::string::npos) call = &t;
        }
    }
    if (call) {
      const json fn = call->value("function", json::object());
      const json params = fn.value("parameters", json{{"type", "object"}});
      std::string args = dump(sim::instance_of(params, rng, params));
      c.tool_call = {{"id", fmt::format("call_{:016x}", rng())},
                     {"type", "function"},
                     {"function", {{"name", fn.value("name", "")}, {"arguments", args}}}};
      c.pieces = sim::token_pieces(args);
      // OpenAI reports "stop" when tool_choice named the function, "tool_calls" otherwise.
      c.finish = tool_choice.is_object() ? "stop" : "tool_calls";
    } else {
      bool exact_tokens = false;
      if (recorded && i == 0 && !recorded->response.empty()) {
        c.text = recorded->response;
        c.pieces = sim::token_pieces(c.text);
        exact_tokens = recorded->output_tokens > 0;
      } else {
        auto count = sc.tokens ? sc.tokens
                               : static_cast<std::uint32_t>(std::clamp(
                                     std::lround(model.output_tokens.sample(rng)), 1L, 4096L));
        c.pieces = sim::answer_words(rng(), count);
        for (const auto& p : c.pieces) c.text += p;
      }
      auto format = response_format.value("type", "text");
      if (format == "json_object") {
        c.text = dump(json{{"answer", c.text}});
        c.pieces = sim::token_pieces(c.text);
        exact_tokens = false;
      } else if (format == "json_schema") {
        const json schema = response_format.value("json_schema", json::object())
                                .value("schema", json{{"type", "object"}});
        c.text = dump(sim::instance_of(schema, rng, schema));
        c.pieces = sim::token_pieces(c.text);
        exact_tokens = false;
      }
      for (const auto& s : stops) {
        auto at = c.text.find(s);
        if (at == std::string::npos) continue;
        c.text.resize(at);
        c.pieces = sim::token_pieces(c.text);
        exact_tokens = false;
      }
      c.tokens = exact_tokens ? recorded->output_tokens : c.pieces.size();
    }
    if (c.tokens == 0) c.tokens = c.pieces.size();
    if (max_tokens && c.tokens > max_tokens) {
      // Cut the visible text in proportion: recorded answers count tokens their own way.
      auto keep = static_cast<std::size_t>((c.pieces.size() * max_tokens + c.tokens - 1) / c.tokens);
      c.pieces.resize(std::min(keep, c.pieces.size()));
      c.tokens = max_tokens;
      c.finish = "length";
      std::string joined;
      for (const auto& p : c.pieces) joined += p;
      if (c.tool_call.is_null()) c.text = joined;
      else c.tool_call["function"]["arguments"] = joined;
    }
    if (want_logprobs) c.logprobs = sim::token_logprobs(plan.quality, c.pieces.size(), rng);
    plan.completion_tokens += c.tokens;
    plan.choices.push_back(std::move(c));
  }
  return plan;
}

// A request's answer and the flags that shape its delivery, read from the body before any byte
// is sent. Wrong types are a 400 with the parameter's name, as from OpenAI.
struct Prepared {
  Plan plan;
  bool stream = false;
  bool include_usage = false;
  int top_logprobs = 0;
};

std::optional<Prepared> prepare(const json& body, std::string_view text, const SimModel& model,
                                const Fleet& fleet, const Script& sc, bool chat,
                                std::string& error) {
  auto is = [&](const char* key, auto check) {
    auto it = body.find(key);
    return it == body.end() || it->is_null() || check(*it);
  };
  auto bounded = [](int lo, int hi) {
    return [=](const json& v) {
      return v.is_number_integer() && v.get<long long>() >= lo && v.get<long long>() <= hi;
    };
  };
  const auto boolean = [](const json& v) { return v.is_boolean(); };
  const auto object = [](const json& v) { return v.is_object(); };
  struct Check {
    const char* key;
    bool ok;
    const char* expected;
  };
  const Check checks[] = {
      {"stream", is("stream", boolean), "a boolean"},
      {"n", is("n", bounded(1, 128)), "an integer from 1 to 128"},
      {"logprobs", chat ? is("logprobs", boolean) : is("logprobs", bounded(0, 5)),
       chat ? "a boolean" : "an integer from 0 to 5"},
      {"top_logprobs", is("top_logprobs", bounded(0, 20)), "an integer from 0 to 20"},
      {"max_tokens", is("max_tokens", bounded(1, 1 << 20)), "a positive integer"},
      {"max_completion_tokens", is("max_completion_tokens", bounded(1, 1 << 20)),
       "a positive integer"},
      {"response_format", is("response_format", object), "an object"},
      {"stream_options", is("stream_options", object), "an object"},
      {"tools", is("tools", [](const json& v) { return v.is_array(); }), "an array"},
      {"stop", is("stop", [](const json& v) { return v.is_string() || v.is_array(); }),
       "a string or an array"},
  };
  for (const auto& c : checks)
    if (!c.ok) {
      error = std::string("Invalid type for '") + c.key + "': expected " + c.expected + ".";
      return std::nullopt;
    }
  try {
    Prepared p;
    p.stream = body.value("stream", false) && !sc.ignore_stream;
    if (auto so = body.find("stream_options"); so != body.end() && so->is_object())
      p.include_usage = so->value("include_usage", false);
    p.top_logprobs = chat ? body.value("top_logprobs", 0) : body.value("logprobs", 0);
    p.plan = make_plan(body, text, model, fleet, sc, chat);
    return p;
  } catch (const json::exception& e) {
    error = std::string("Invalid request: ") + e.what();
    return std::nullopt;
  }
}

// Which model, which faults, and how fast, for one request.
struct Timing {
  double ttft_ms = 0;
  double token_ms = 0;  // per reported completion token
};

template <class Stream>
class SimSession {
 public:
  SimSession(Stream& s, SimStats& stats, const Fleet& fleet, SteadyTime started)
      : s_(s), stats_(stats), fleet_(fleet), started_(started) {}

  // Whether the request just served asked the connection closed after its answer, whatever
  // its headers said.
  bool close_after() const { return close_after_; }

  // Returns false when the connection must close.
  net::awaitable<bool> serve(http::request<http::string_body>& req) {
    close_after_ = false;
    stats_.requests.fetch_add(1, std::memory_order_relaxed);
    auto target = req.target();
    if (auto q = target.find('?'); q != std::string_view::npos) target = target.substr(0, q);
    if (req.method() == http::verb::get && target == "/v1/models") {
      json data = json::array();
      for (const auto& m : fleet_.models)
        data.push_back({{"id", m->name}, {"object", "model"}, {"created", 0},
                        {"owned_by", "switchyard-sim"}});
      auto out = dump(json{{"object", "list"}, {"data", data}});
      co_return co_await reply(req, 200, std::move(out));
    }
    if (req.method() == http::verb::get && target == "/healthz") {
      std::string ok = R"({"status":"ok"})";
      co_return co_await reply(req, 200, std::move(ok));
    }
    // Bounded first: the DOM built next is walked recursively (dump, schema instances).
    json body = is_bounded_json(req.body(), 64) ? json::parse(req.body(), nullptr, false)
                                                : json(json::value_t::discarded);
    if (body.is_discarded() || !body.is_object() || !body.contains("model") ||
        !body["model"].is_string()) {
      auto err = error_body("the body must be a JSON object with a string model",
                            "invalid_request_error");
      co_return co_await reply(req, 400, std::move(err));
    }
    const auto model_id = body["model"].get<std::string>();
    Script sc;
    auto semi = model_id.find(';');
    std::string bad;
    if (semi != std::string::npos) bad = sc.apply(std::string_view(model_id).substr(semi + 1), ';');
    if (bad.empty()) bad = sc.apply(req["x-sim-fault"], ',');
    close_after_ = sc.close_after;
    if (!bad.empty()) {
      auto err = error_body("unknown or malformed sim directive '" + bad + "'",
                            "invalid_request_error");
      co_return co_await reply(req, 400, std::move(err));
    }
    const SimModel* model = fleet_.find(std::string_view(model_id).substr(0, semi));
    if (!model) {
      auto err = error_body("The model '" + model_id + "' does not exist", "invalid_request_error",
                            "model_not_found");
      co_return co_await reply(req, 404, std::move(err));
    }
    if (sc.reset) co_return false;
    if (sc.garbage) {
      co_await net::async_write(s_, net::buffer(kGarbage), use_tuple);
      co_return false;
    }
    if (sc.stall_first_byte) {
      co_await sleep_real(std::chrono::hours(1));
      co_return false;
    }

    // The concurrency limit counts requests being answered, like a provider's rate limit.
    struct Slot {
      const SimModel& m;
      bool held = true;
      void release() {
        if (held) m.in_flight.fetch_sub(1, std::memory_order_relaxed);
        held = false;
      }
      ~Slot() { release(); }
    } slot{*model};
    if (model->in_flight.fetch_add(1, std::memory_order_relaxed) >= model->max_concurrent) {
      slot.release();  // a rejected request must not count while its 429 is written
      http::response<http::string_body> res{http::status::too_many_requests, 11};
      res.set(http::field::retry_after, "1");
      auto err = error_body("Rate limit reached for " + model->name, "requests",
                            "rate_limit_exceeded");
      co_return co_await send(req, std::move(res), std::move(err));
    }

    const double t = seconds(steady_now() - started_) / fleet_.time_scale;
    std::uint32_t status = sc.status;
    if (!status && model->episode(sim::Episode::Kind::outage, t)) status = 503;
    if (!status) {
      double p = model->error_rate;
      if (auto* e = model->episode(sim::Episode::Kind::error_burst, t)) p = std::max(p, e->error_rate);
      if (p > 0 && std::uniform_real_distribution<double>(0, 1)(rng_) < p) status = 500;
    }
    double factor = 1;
    if (auto* e = model->episode(sim::Episode::Kind::latency_spike, t)) factor = e->factor;
    if (model->slow_share > 0 &&
        std::uniform_real_distribution<double>(0, 1)(rng_) < model->slow_share)
      factor *= model->slow_factor;
    Timing timing;
    timing.ttft_ms = model->ttft_ms.sample(rng_) * factor;
    const double tps = model->tokens_per_s.sample(rng_);
    timing.token_ms = tps > 0 ? 1000.0 / tps * factor : 0;
    if (sc.delay_ms) co_await sleep_real(std::chrono::milliseconds(sc.delay_ms));

    if (status) {
      co_await sleep_sim(timing.ttft_ms);
      http::response<http::string_body> res{static_cast<http::status>(status), 11};
      if (sc.retry_after_s) res.set(http::field::retry_after, std::to_string(sc.retry_after_s));
      auto err = error_body("simulated failure (HTTP " + std::to_string(status) + ")",
                            status == 429 ? "requests" : "server_error");
      co_return co_await send(req, std::move(res), std::move(err));
    }

    if (target == "/v1/embeddings") {
      co_await sleep_sim(timing.ttft_ms);
      co_return co_await embeddings(req, body, *model, model_id);
    }
    const bool chat = target == "/v1/chat/completions";
    if (!chat && target != "/v1/completions") {
      auto err = error_body("unknown path", "invalid_request_error");
      co_return co_await reply(req, 404, std::move(err));
    }
    if (model->embedding) {
      auto err = error_body(model->name + " is an embedding model", "invalid_request_error");
      co_return co_await reply(req, 400, std::move(err));
    }

    std::string invalid;
    auto prepared = prepare(body, req.body(), *model, fleet_, sc, chat, invalid);
    if (!prepared) {
      auto err = error_body(invalid, "invalid_request_error");
      co_return co_await reply(req, 400, std::move(err));
    }
    const Plan& plan = prepared->plan;
    const bool stream = prepared->stream;
    const auto id = fmt::format("{}-sim-{:x}", chat ? "chatcmpl" : "cmpl", rng_());
    json usage = {{"prompt_tokens", plan.prompt_tokens},
                  {"completion_tokens", plan.completion_tokens},
                  {"total_tokens", plan.prompt_tokens + plan.completion_tokens}};
    const int top = prepared->top_logprobs;
    if (!stream) {
      co_await sleep_sim(timing.ttft_ms + timing.token_ms * plan.completion_tokens);
      json choices = json::array();
      for (std::size_t i = 0; i < plan.choices.size(); ++i)
        choices.push_back(choice_json(plan.choices[i], i, chat, top));
      json out = {{"id", id},
                  {"object", chat ? "chat.completion" : "text_completion"},
                  {"created", unix_seconds()},
                  {"model", model_id},
                  {"system_fingerprint", "switchyard-sim"},
                  {"choices", std::move(choices)}};
      if (!sc.no_usage) out["usage"] = usage;
      if (sc.pad_bytes) out["sim_padding"] = std::string(sc.pad_bytes, 'x');
      auto text = sc.bad_json ? spoil(dump(out)) : dump(out);
      if (sc.cut_body_at >= 0 || sc.stall_body_at >= 0) {
        // The head promises the whole body; only its first bytes follow.
        const bool stall = sc.stall_body_at >= 0;
        const auto at = static_cast<std::size_t>(stall ? sc.stall_body_at : sc.cut_body_at);
        http::response<http::empty_body> head{http::status::ok, req.version()};
        head.set(http::field::content_type, "application/json");
        head.set("x-request-id", fmt::format("sim-{:x}", rng_()));
        head.content_length(text.size());
        head.keep_alive(req.keep_alive());
        http::response_serializer<http::empty_body> sr{head};
        if (auto [ec, n] = co_await http::async_write_header(s_, sr, use_tuple); ec)
          co_return false;
        auto [ec, n] = co_await net::async_write(
            s_, net::buffer(text.data(), std::min(at, text.size())), use_tuple);
        if (!ec && stall) {
          slot.release();
          co_await sleep_real(std::chrono::hours(1));
        }
        co_return false;
      }
      http::response<http::string_body> res{http::status::ok, req.version()};
      res.set("x-sim-quality", fmt::format("{}", plan.quality));
      co_return co_await send(req, std::move(res), std::move(text));
    }

    co_await sleep_sim(timing.ttft_ms);
    http::response<http::empty_body> head{http::status::ok, req.version()};
    head.set(http::field::content_type, "text/event-stream");
    head.set(http::field::cache_control, "no-cache");
    head.set("x-request-id", id);
    head.set("x-sim-quality", fmt::format("{}", plan.quality));
    head.chunked(true);
    head.keep_alive(req.keep_alive());
    http::response_serializer<http::empty_body> sr{head};
    if (auto [ec, n] = co_await http::async_write_header(s_, sr, use_tuple); ec) co_return false;

    auto chunk = [&](std::size_t index, json delta, json finish, json logprobs) {
      json c = chat ? json{{"index", index}, {"delta", std::move(delta)}, {"logprobs", logprobs},
                           {"finish_reason", finish}}
                    : json{{"index", index}, {"text", std::move(delta)}, {"logprobs", logprobs},
                           {"finish_reason", finish}};
      json ev = {{"id", id},
                 {"object", chat ? "chat.completion.chunk" : "text_completion"},
                 {"created", unix_seconds()},
                 {"model", model_id},
                 {"system_fingerprint", "switchyard-sim"},
                 {"choices", json::array({std::move(c)})}};
      return "data: " + (sc.bad_json ? spoil(dump(ev)) : dump(ev)) + "\n\n";
    };
    std::int64_t sent = 0;
    SteadyTime due = steady_now();
    for (std::size_t i = 0; i < plan.choices.size(); ++i) {
      const auto& c = plan.choices[i];
      const bool tool = !c.tool_call.is_null();
      if (chat) {
        json delta = {{"role", "assistant"}, {"content", tool ? json(nullptr) : json("")}};
        if (tool) {
          json call = c.tool_call;
          call["index"] = 0;
          call["function"]["arguments"] = "";
          delta["tool_calls"] = json::array({call});
        }
        auto first = chunk(i, std::move(delta), nullptr, nullptr);
        if (!co_await event(first)) co_return false;
      }
      // Spread the reported tokens' time over the pieces actually sent, on absolute deadlines
      // so that timer overhead does not add up over a long answer.
      const double piece_ms =
          sc.has_interval ? sc.token_interval_ms / fleet_.time_scale
          : c.pieces.empty() ? 0
                             : timing.token_ms * static_cast<double>(c.tokens) / c.pieces.size();
      for (std::size_t k = 0; k < c.pieces.size(); ++k, ++sent) {
        if (sc.cut_after >= 0 && sent == sc.cut_after) co_return false;
        if (sc.stall_after >= 0 && sent == sc.stall_after) {
          slot.release();
          co_await sleep_real(std::chrono::hours(1));
          co_return false;
        }
        due += std::chrono::nanoseconds(std::llround(piece_ms * fleet_.time_scale * 1e6));
        co_await sleep_until(due);
        json delta = !chat  ? json(c.pieces[k])
                     : tool ? json{{"tool_calls", json::array({{{"index", 0},
                                                                {"function",
                                                                 {{"arguments", c.pieces[k]}}}}})}}
                            : json{{"content", c.pieces[k]}};
        json lp = nullptr;
        if (!c.logprobs.empty())
          lp = chat ? json{{"content", json::array({logprob_entry(c.pieces[k], c.logprobs[k], top,
                                                                  rng_)})}}
                    : json{{"tokens", {c.pieces[k]}}, {"token_logprobs", {c.logprobs[k]}}};
        auto ev = chunk(i, std::move(delta), nullptr, std::move(lp));
        if (!co_await event(ev)) {
          stats_.cancelled_streams.fetch_add(1, std::memory_order_relaxed);
          co_return false;
        }
      }
      auto last = chunk(i, chat ? json::object() : json(std::string()), json(c.finish), nullptr);
      if (!co_await event(last)) co_return false;
    }
    if (prepared->include_usage && !sc.no_usage) {
      json ev = {{"id", id},
                 {"object", chat ? "chat.completion.chunk" : "text_completion"},
                 {"created", unix_seconds()},
                 {"model", model_id},
                 {"choices", json::array()},
                 {"usage", usage}};
      auto usage_event = "data: " + (sc.bad_json ? spoil(dump(ev)) : dump(ev)) + "\n\n";
      if (!co_await event(usage_event)) co_return false;
    }
    const std::string done(kDone);
    if (!co_await event(done)) co_return false;
    auto [ec, n] = co_await net::async_write(s_, http::make_chunk_last(), use_tuple);
    stats_.completed_streams.fetch_add(1, std::memory_order_relaxed);
    co_return !ec && req.keep_alive();
  }

 private:
  json choice_json(const ChoicePlan& c, std::size_t index, bool chat, int top) {
    json lp = nullptr;
    if (!c.logprobs.empty()) {
      if (chat) {
        lp = {{"content", json::array()}, {"refusal", nullptr}};
        for (std::size_t k = 0; k < c.pieces.size(); ++k)
          lp["content"].push_back(logprob_entry(c.pieces[k], c.logprobs[k], top, rng_));
      } else {
        lp = {{"tokens", c.pieces}, {"token_logprobs", c.logprobs}, {"top_logprobs", nullptr},
              {"text_offset", json::array()}};
      }
    }
    if (!chat)
      return {{"index", index}, {"text", c.text}, {"logprobs", lp}, {"finish_reason", c.finish}};
    json message = {{"role", "assistant"}, {"refusal", nullptr}};
    if (c.tool_call.is_null()) {
      message["content"] = c.text;
    } else {
      message["content"] = nullptr;
      message["tool_calls"] = json::array({c.tool_call});
    }
    return {{"index", index}, {"message", message}, {"logprobs", lp}, {"finish_reason", c.finish}};
  }

  // Simulated milliseconds, scaled by the fleet's time_scale; at most a day (a catalogue's
  // ttft_ms of 1e300, or tokens_per_s of 1e-300, must not convert out of range), none if NaN.
  net::awaitable<void> sleep_sim(double sim_ms) {
    const double real_ms = std::min(sim_ms * fleet_.time_scale, 86'400'000.0);
    if (!(real_ms >= 0.05)) co_return;
    co_await sleep_real(std::chrono::microseconds(static_cast<long long>(real_ms * 1000)));
  }

  net::awaitable<void> sleep_until(SteadyTime due) {
    if (due <= steady_now()) co_return;
    net::steady_timer t(co_await net::this_coro::executor, due);
    co_await t.async_wait(use_tuple);
  }

  template <class Duration>
  net::awaitable<void> sleep_real(Duration d) {
    net::steady_timer t(co_await net::this_coro::executor, d);
    co_await t.async_wait(use_tuple);
  }

  net::awaitable<bool> event(const std::string& e) {
    auto [ec, n] =
        co_await net::async_write(s_, http::make_chunk(net::buffer(e.data(), e.size())), use_tuple);
    co_return !ec;
  }

  net::awaitable<bool> embeddings(const http::request<http::string_body>& req, const json& body,
                                  const SimModel& model, const std::string& model_id) {
    const auto& input = body.contains("input") ? body["input"] : json();
    std::vector<std::string> texts;
    if (input.is_string()) {
      texts.push_back(input.get<std::string>());
    } else if (input.is_array() && !input.empty() && input[0].is_number()) {
      texts.push_back(dump(input));  // one input given as token ids
    } else if (input.is_array()) {
      for (const auto& x : input) texts.push_back(x.is_string() ? x.get<std::string>() : dump(x));
    }
    if (texts.empty()) {
      auto err = error_body("'input' must be a string or a list", "invalid_request_error");
      co_return co_await reply(req, 400, std::move(err));
    }
    std::size_t dims = model.embedding ? model.dims : 256;
    if (auto d = body.find("dimensions"); d != body.end() && d->is_number_unsigned())
      dims = std::clamp<std::size_t>(d->get<std::size_t>(), 1, dims);
    auto format = body.find("encoding_format");
    const bool base64 = format != body.end() && *format == "base64";
    json data = json::array();
    std::size_t chars = 0;
    for (std::size_t i = 0; i < texts.size(); ++i) {
      auto v = sim::embed(texts[i], dims);
      chars += texts[i].size();
      json e = {{"object", "embedding"}, {"index", i}};
      if (base64) e["embedding"] = sim::base64_floats(v);
      else e["embedding"] = v;
      data.push_back(std::move(e));
    }
    const auto tokens = tokens_for(chars);
    json out = {{"object", "list"},
                {"data", std::move(data)},
                {"model", model_id},
                {"usage", {{"prompt_tokens", tokens}, {"total_tokens", tokens}}}};
    auto text = dump(out);
    co_return co_await reply(req, 200, std::move(text));
  }

  net::awaitable<bool> reply(const http::request<http::string_body>& req, int status,
                             std::string body) {
    http::response<http::string_body> res{static_cast<http::status>(status), req.version()};
    co_return co_await send(req, std::move(res), std::move(body));
  }

  net::awaitable<bool> send(const http::request<http::string_body>& req,
                            http::response<http::string_body> res, std::string body) {
    res.set(http::field::content_type, "application/json");
    res.set("x-request-id", fmt::format("sim-{:x}", rng_()));
    res.keep_alive(req.keep_alive());
    res.body() = std::move(body);
    res.prepare_payload();
    auto [ec, n] = co_await http::async_write(s_, res, use_tuple);
    co_return !ec && req.keep_alive();
  }

  Stream& s_;
  SimStats& stats_;
  const Fleet& fleet_;
  SteadyTime started_;
  std::mt19937_64 rng_{std::random_device{}()};
  bool close_after_ = false;  // the last request's close_after_answer
};

template <class Stream>
net::awaitable<void> serve_connection(Stream& stream, SimStats& stats, const Fleet& fleet,
                                      SteadyTime started) {
  beast::flat_buffer buffer;
  SimSession<Stream> session(stream, stats, fleet, started);
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.body_limit(64 << 20);
    auto [ec, n] = co_await http::async_read(stream, buffer, parser, use_tuple);
    if (ec) co_return;
    auto req = parser.release();
    if (!co_await session.serve(req) || session.close_after()) co_return;
  }
}

}  // namespace

Result<std::unique_ptr<SimServer>> SimServer::start(const SimOptions& o) {
  std::unique_ptr<SimServer> s(new SimServer());
  s->stats_ = std::make_unique<SimStats>();
  s->fleet_ = o.fleet ? o.fleet : std::shared_ptr<Fleet>(sim::open_fleet());
  if (!o.tls_cert_file.empty()) {
    s->tls_ = std::make_unique<Tls>();
    boost::system::error_code ec;
    s->tls_->ctx.use_certificate_chain_file(o.tls_cert_file, ec);
    if (!ec) s->tls_->ctx.use_private_key_file(o.tls_key_file, ssl::context::pem, ec);
    if (ec) return make_error(Reason::internal, "sim TLS: " + ec.message());
  }
  s->workers_ = std::make_unique<Workers>(o.workers);
  SimStats* stats = s->stats_.get();
  Tls* tls = s->tls_.get();
  const Fleet* fleet = s->fleet_.get();
  const SteadyTime started = steady_now();
  s->listener_ = std::make_unique<Listener>(
      *s->workers_,
      [stats, tls, fleet, started](tcp::socket sock, unsigned) -> net::awaitable<void> {
        co_await net::this_coro::throw_if_cancelled(false);
        stats->connections.fetch_add(1, std::memory_order_relaxed);
        stats->open_connections.fetch_add(1, std::memory_order_relaxed);
        struct Closed {
          SimStats* s;
          ~Closed() { s->open_connections.fetch_sub(1, std::memory_order_relaxed); }
        } closed{stats};
        if (!tls) {
          beast::tcp_stream stream(std::move(sock));
          co_await serve_connection(stream, *stats, *fleet, started);
          co_return;
        }
        beast::ssl_stream<beast::tcp_stream> stream(std::move(sock), tls->ctx);
        auto [ec] = co_await stream.async_handshake(ssl::stream_base::server, use_tuple);
        if (ec) co_return;
        co_await serve_connection(stream, *stats, *fleet, started);
      });
  auto port = s->listener_->open(o.listen);
  if (!port) return port.error();
  s->port_ = *port;
  s->workers_->start();
  s->listener_->start();
  return s;
}

SimServer::~SimServer() {
  if (listener_) listener_->close();
  if (workers_) workers_->stop_and_join();
  listener_.reset();
}

}  // namespace switchyard

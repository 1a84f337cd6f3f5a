#include "sim/sim_server.hpp"

#include "core/clock.hpp"
#include "server/workers.hpp"

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
#include <cmath>

namespace switchyard {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;
using json = nlohmann::json;
using ms = std::chrono::milliseconds;

struct SimServer::Tls {
  ssl::context ctx{ssl::context::tls_server};
};

namespace {

constexpr auto use_tuple = net::as_tuple(net::use_awaitable);
// Named, not literal: GCC 12 rejects string-literal arrays inside co_await expressions.
constexpr std::string_view kGarbage = "\x01\x02garbage\r\n\r\n";
constexpr std::string_view kDone = "data: [DONE]\n\n";

struct Script {
  std::string name;
  std::uint32_t delay_ms = 0, status = 0, retry_after_s = 0, tokens = 8, token_interval_ms = 0;
  std::int64_t cut_after = -1, stall_after = -1;
  bool garbage = false, reset = false, no_usage = false, ignore_stream = false;
};

Script parse_script(std::string_view model) {
  Script s;
  auto take = [&](std::string_view v, auto& out) {
    std::from_chars(v.data(), v.data() + v.size(), out);
  };
  std::size_t i = 0;
  bool first = true;
  while (i <= model.size()) {
    auto end = model.find(';', i);
    if (end == std::string_view::npos) end = model.size();
    auto part = model.substr(i, end - i);
    i = end + 1;
    if (first) {
      s.name = std::string(part);
      first = false;
      continue;
    }
    auto eq = part.find('=');
    auto key = part.substr(0, eq);
    auto val = eq == std::string_view::npos ? std::string_view{} : part.substr(eq + 1);
    if (key == "delay_ms") take(val, s.delay_ms);
    else if (key == "status") take(val, s.status);
    else if (key == "retry_after_s") take(val, s.retry_after_s);
    else if (key == "tokens") take(val, s.tokens);
    else if (key == "token_interval_ms") take(val, s.token_interval_ms);
    else if (key == "cut_after") take(val, s.cut_after);
    else if (key == "stall_after") take(val, s.stall_after);
    else if (key == "garbage") s.garbage = true;
    else if (key == "reset") s.reset = true;
    else if (key == "no_usage") s.no_usage = true;
    else if (key == "ignore_stream") s.ignore_stream = true;
  }
  return s;
}

// Deterministic words derived from the prompt, so the same request gets the same answer.
std::vector<std::string> answer_words(const std::string& prompt, std::uint32_t n) {
  static const char* kWords[] = {"the",     "gateway", "routes",  "each",   "request", "to",
                                 "a",       "model",   "that",    "fits",   "cost",    "and",
                                 "quality", "while",   "latency", "stays",  "low",     "for",
                                 "every",   "answer",  "streams", "back",   "quickly", "here"};
  std::uint64_t h = 1469598103934665603ull;
  for (unsigned char c : prompt) h = (h ^ c) * 1099511628211ull;
  std::vector<std::string> out;
  for (std::uint32_t i = 0; i < n; ++i) {
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 29;
    out.push_back((i ? " " : "") + std::string(kWords[h % std::size(kWords)]));
  }
  return out;
}

std::string prompt_text(const json& body) {
  std::string text;
  if (auto m = body.find("messages"); m != body.end() && m->is_array()) {
    for (const auto& msg : *m)
      if (auto c = msg.find("content"); c != msg.end() && c->is_string())
        text += c->get_ref<const std::string&>() + "\n";
  } else if (auto p = body.find("prompt"); p != body.end() && p->is_string()) {
    text = p->get<std::string>();
  } else if (auto in = body.find("input"); in != body.end()) {
    text = in->is_string() ? in->get<std::string>() : in->dump();
  }
  return text;
}

std::uint64_t approx_tokens(std::string_view text) { return std::max<std::uint64_t>(1, text.size() / 4); }

// Deterministic unit vector: similar texts share trigrams, so they get similar vectors.
std::vector<float> embed(std::string_view text, std::size_t dims) {
  std::vector<float> v(dims, 0.f);
  for (std::size_t i = 0; i + 3 <= text.size() || (i == 0 && !text.empty()); ++i) {
    std::uint64_t h = 1469598103934665603ull;
    for (char c : text.substr(i, 3)) h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ull;
    v[h % dims] += (h >> 63) ? 1.f : -1.f;
    if (i + 3 > text.size()) break;
  }
  float norm = 0;
  for (float x : v) norm += x * x;
  norm = std::sqrt(norm);
  if (norm > 0)
    for (float& x : v) x /= norm;
  return v;
}

template <class Stream>
class SimSession {
 public:
  SimSession(Stream& s, SimStats& stats) : s_(s), stats_(stats) {}

  // Returns false when the connection must close.
  net::awaitable<bool> serve(http::request<http::string_body>& req) {
    stats_.requests.fetch_add(1, std::memory_order_relaxed);
    auto target = req.target();
    if (req.method() == http::verb::get && target == "/v1/models") {
      std::string empty_list = R"({"object":"list","data":[]})";
      co_return co_await reply(req, 200, std::move(empty_list));
    }
    if (req.method() == http::verb::get && target == "/healthz") {
      std::string ok = R"({"status":"ok"})";
      co_return co_await reply(req, 200, std::move(ok));
    }
    json body = json::parse(req.body(), nullptr, false);
    if (body.is_discarded() || !body.is_object() || !body.contains("model") ||
        !body["model"].is_string())
    {
      auto err = error_body("invalid body", "invalid_request_error");
      co_return co_await reply(req, 400, std::move(err));
    }
    const auto model = body["model"].get<std::string>();
    Script sc = parse_script(model);
    if (sc.reset) co_return false;
    if (sc.garbage) {
      co_await net::async_write(s_, net::buffer(kGarbage), use_tuple);
      co_return false;
    }
    if (sc.delay_ms) co_await sleep(ms(sc.delay_ms));
    if (sc.status) {
      http::response<http::string_body> res{static_cast<http::status>(sc.status), 11};
      if (sc.retry_after_s) res.set(http::field::retry_after, std::to_string(sc.retry_after_s));
      auto err = error_body("simulated failure", "api_error");
      co_return co_await send(req, std::move(res), std::move(err));
    }
    const std::string prompt = prompt_text(body);
    const auto in_tokens = approx_tokens(prompt);
    const bool chat = target == "/v1/chat/completions";
    if (target == "/v1/embeddings") co_return co_await embeddings(req, body, model, in_tokens);
    if (!chat && target != "/v1/completions") {
      auto err = error_body("unknown path", "invalid_request_error");
      co_return co_await reply(req, 404, std::move(err));
    }

    auto words = answer_words(prompt, sc.tokens);
    const bool stream = body.value("stream", false) && !sc.ignore_stream;
    const auto id = fmt::format("{}-sim-{}", chat ? "chatcmpl" : "cmpl", ++counter_);
    json usage = {{"prompt_tokens", in_tokens},
                  {"completion_tokens", words.size()},
                  {"total_tokens", in_tokens + words.size()}};
    if (!stream) {
      std::string text;
      for (const auto& w : words) text += w;
      json choice = chat ? json{{"index", 0},
                                {"message", {{"role", "assistant"}, {"content", text}}},
                                {"finish_reason", "stop"}}
                         : json{{"index", 0}, {"text", text}, {"finish_reason", "stop"}};
      json out = {{"id", id},
                  {"object", chat ? "chat.completion" : "text_completion"},
                  {"created", unix_seconds()},
                  {"model", model},
                  {"choices", json::array({choice})}};
      if (!sc.no_usage) out["usage"] = usage;
      co_return co_await reply(req, 200, out.dump());
    }

    http::response<http::empty_body> head{http::status::ok, req.version()};
    head.set(http::field::content_type, "text/event-stream");
    head.set("x-request-id", id);
    head.chunked(true);
    head.keep_alive(req.keep_alive());
    http::response_serializer<http::empty_body> sr{head};
    if (auto [ec, n] = co_await http::async_write_header(s_, sr, use_tuple); ec) co_return false;

    const bool include_usage =
        body.contains("stream_options") && body["stream_options"].value("include_usage", false);
    auto chunk = [&](json delta_or_text, const json& finish) {
      json c = chat ? json{{"index", 0}, {"delta", delta_or_text}, {"finish_reason", finish}}
                    : json{{"index", 0}, {"text", delta_or_text}, {"finish_reason", finish}};
      json ev = {{"id", id},
                 {"object", chat ? "chat.completion.chunk" : "text_completion"},
                 {"created", unix_seconds()},
                 {"model", model},
                 {"choices", json::array({c})}};
      return "data: " + ev.dump() + "\n\n";
    };
    if (chat) {
      auto first = chunk(json{{"role", "assistant"}, {"content", ""}}, nullptr);
      if (!co_await event(first)) co_return false;
    }
    for (std::size_t i = 0; i < words.size(); ++i) {
      if (sc.cut_after >= 0 && static_cast<std::int64_t>(i) == sc.cut_after) co_return false;
      if (sc.stall_after >= 0 && static_cast<std::int64_t>(i) == sc.stall_after) {
        co_await sleep(ms(3'600'000));
        co_return false;
      }
      if (sc.token_interval_ms) co_await sleep(ms(sc.token_interval_ms));
      auto ev = chunk(chat ? json{{"content", words[i]}} : json(words[i]), nullptr);
      if (!co_await event(ev)) {
        stats_.cancelled_streams.fetch_add(1, std::memory_order_relaxed);
        co_return false;
      }
    }
    auto last = chunk(chat ? json::object() : json(std::string()), json(std::string("stop")));
    if (!co_await event(last)) co_return false;
    if (include_usage && !sc.no_usage) {
      json ev = {{"id", id},         {"object", chat ? "chat.completion.chunk" : "text_completion"},
                 {"created", unix_seconds()}, {"model", model},
                 {"choices", json::array()},  {"usage", usage}};
      auto usage_event = "data: " + ev.dump() + "\n\n";
      if (!co_await event(usage_event)) co_return false;
    }
    const std::string done(kDone);
    if (!co_await event(done)) co_return false;
    auto [ec, n] = co_await net::async_write(s_, http::make_chunk_last(), use_tuple);
    stats_.completed_streams.fetch_add(1, std::memory_order_relaxed);
    co_return !ec && req.keep_alive();
  }

 private:
  static std::string error_body(std::string_view msg, std::string_view type) {
    return json{{"error", {{"message", msg}, {"type", type}, {"param", nullptr}, {"code", nullptr}}}}
        .dump();
  }

  net::awaitable<void> sleep(ms d) {
    net::steady_timer t(co_await net::this_coro::executor, d);
    co_await t.async_wait(use_tuple);
  }

  net::awaitable<bool> event(const std::string& e) {
    auto [ec, n] =
        co_await net::async_write(s_, http::make_chunk(net::buffer(e.data(), e.size())), use_tuple);
    co_return !ec;
  }

  net::awaitable<bool> embeddings(const http::request<http::string_body>& req, const json& body,
                                  const std::string& model, std::uint64_t in_tokens) {
    const auto& input = body["input"];
    std::vector<std::string> texts;
    if (input.is_string()) texts.push_back(input.get<std::string>());
    else if (input.is_array())
      for (const auto& x : input) texts.push_back(x.is_string() ? x.get<std::string>() : x.dump());
    json data = json::array();
    for (std::size_t i = 0; i < texts.size(); ++i)
      data.push_back({{"object", "embedding"}, {"index", i}, {"embedding", embed(texts[i], 64)}});
    json out = {{"object", "list"},
                {"data", data},
                {"model", model},
                {"usage", {{"prompt_tokens", in_tokens}, {"total_tokens", in_tokens}}}};
    co_return co_await reply(req, 200, out.dump());
  }

  net::awaitable<bool> reply(const http::request<http::string_body>& req, int status,
                             std::string body) {
    http::response<http::string_body> res{static_cast<http::status>(status), req.version()};
    co_return co_await send(req, std::move(res), std::move(body));
  }

  net::awaitable<bool> send(const http::request<http::string_body>& req,
                            http::response<http::string_body> res, std::string body) {
    res.set(http::field::content_type, "application/json");
    res.set("x-request-id", fmt::format("sim-{}", ++counter_));
    res.keep_alive(req.keep_alive());
    res.body() = std::move(body);
    res.prepare_payload();
    auto [ec, n] = co_await http::async_write(s_, res, use_tuple);
    co_return !ec && req.keep_alive();
  }

  Stream& s_;
  SimStats& stats_;
  std::uint64_t counter_ = 0;
};

template <class Stream>
net::awaitable<void> serve_connection(Stream& stream, SimStats& stats) {
  beast::flat_buffer buffer;
  SimSession<Stream> session(stream, stats);
  for (;;) {
    http::request<http::string_body> req;
    http::request_parser<http::string_body> parser;
    parser.body_limit(64 << 20);
    auto [ec, n] = co_await http::async_read(stream, buffer, parser, use_tuple);
    if (ec) co_return;
    req = parser.release();
    if (!co_await session.serve(req)) co_return;
  }
}

}  // namespace

Result<std::unique_ptr<SimServer>> SimServer::start(const SimOptions& o) {
  std::unique_ptr<SimServer> s(new SimServer());
  s->stats_ = std::make_unique<SimStats>();
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
  s->listener_ = std::make_unique<Listener>(
      *s->workers_, [stats, tls](tcp::socket sock, unsigned) -> net::awaitable<void> {
        co_await net::this_coro::throw_if_cancelled(false);
        stats->connections.fetch_add(1, std::memory_order_relaxed);
        stats->open_connections.fetch_add(1, std::memory_order_relaxed);
        struct Closed {
          SimStats* s;
          ~Closed() { s->open_connections.fetch_sub(1, std::memory_order_relaxed); }
        } closed{stats};
        if (!tls) {
          beast::tcp_stream stream(std::move(sock));
          co_await serve_connection(stream, *stats);
          co_return;
        }
        beast::ssl_stream<beast::tcp_stream> stream(std::move(sock), tls->ctx);
        auto [ec] = co_await stream.async_handshake(ssl::stream_base::server, use_tuple);
        if (ec) co_return;
        co_await serve_connection(stream, *stats);
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

// Issue 6, "Fault matrix under load": eight concurrent clients against every way an upstream can
// fail (refused, reset, cut, stalled, 429/5xx, bad JSON, oversized, slow drip, TLS, garbage),
// plain and streamed. Every answer must be a correct success or a correct OpenAI-shaped error
// with the exact status and code the fault implies; a stream that fails after its first event
// must end with an in-band error event and a proper end of body, never a silent truncation; the
// in-flight gauge must return to 0. Prints the markdown table that docs/reliability.md quotes:
//   build/release/tests/switchyard_integration_tests --gtest_filter='FaultMatrix*'
#include "support/fixture.hpp"

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <functional>
#include <iostream>
#include <map>
#include <thread>
#include <vector>

namespace switchyard::test {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
using json = nlohmann::json;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr int kThreads = 8;
// No answer may take longer than this; the slowest case needs about 1.5 s.
constexpr auto kClientLimit = 10s;

// ---------------------------------------------------------------------------------------------
// A client whose every wait is bounded (the shared test client's synchronous reads are not): one
// POST on a fresh connection, the answer parsed by Beast as it arrives, the time it took.

struct Answer {
  int status = 0;  // 0: no HTTP answer
  std::map<std::string, std::string> headers;  // lower-case; a chunked body's trailers too
  std::string body;                            // de-chunked
  bool complete = false;                       // the body ended as its framing said
  std::string failure;                         // why there is no (complete) answer
  std::chrono::milliseconds elapsed{0};
  std::string header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? std::string() : it->second;
  }
};

Answer post(unsigned short port, const std::string& body) {
  Answer a;
  const auto start = Clock::now();
  const auto deadline = start + kClientLimit;
  auto done = [&](std::string why) {
    a.failure = std::move(why);
    a.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
    return a;
  };
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return done("socket: " + std::string(std::strerror(errno)));
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  timeval tv{0, 200'000};  // recv wakes up at least every 200 ms to check the deadline
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
    return done("connect: " + std::string(std::strerror(errno)));
  const std::string request = fmt::format(
      "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
      "Content-Length: {}\r\n\r\n{}",
      body.size(), body);
  for (std::size_t sent = 0; sent < request.size();) {
    auto n = ::send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && (errno == EAGAIN || errno == EINTR) && Clock::now() < deadline) continue;
    if (n <= 0) return done("send: " + std::string(std::strerror(errno)));
    sent += static_cast<std::size_t>(n);
  }

  http::response_parser<http::string_body> p;
  p.body_limit(64 << 20);
  p.eager(true);
  beast::flat_buffer buf;
  beast::error_code ec;
  while (!p.is_done()) {
    if (Clock::now() >= deadline) break;
    auto space = buf.prepare(64 * 1024);
    auto n = ::recv(fd, space.data(), space.size(), 0);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) continue;
    if (n < 0) break;  // reset
    if (n == 0) {
      p.put_eof(ec);
      break;
    }
    buf.commit(static_cast<std::size_t>(n));
    while (buf.size() > 0 && !p.is_done()) {
      auto used = p.put(buf.data(), ec);
      buf.consume(used);
      if (ec == http::error::need_more) {
        ec = {};
        break;
      }
      if (ec) return done("unparsable answer: " + ec.message());
      if (used == 0) break;
    }
  }
  if (p.is_header_done()) {
    a.status = static_cast<int>(p.get().result_int());
    for (const auto& f : p.get()) {
      std::string name(f.name_string());
      for (auto& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      a.headers[name] = std::string(f.value());
    }
    a.body = p.get().body();
  }
  a.complete = p.is_done();
  if (!a.complete)
    return done(Clock::now() >= deadline ? "no complete answer within the client's limit"
                : ec                     ? "connection closed mid-answer: " + ec.message()
                                         : "connection closed or reset mid-answer");
  return done({});
}

// ---------------------------------------------------------------------------------------------
// The matrix.

enum class Mode { json, sse };

struct Up {
  enum class Where { sim, closed_port, https_to_plain_sim } where = Where::sim;
  std::string name;
  std::string model_id;  // the sim's directives after ';'
  // The reason every request leaves in switchyard_upstream_errors_total for this upstream;
  // empty for a healthy one.
  std::string error_reason;
  std::uint32_t total_timeout_ms = 5000;
  std::string extra;  // more upstream keys, indented by four spaces
};

struct Case {
  std::string name;   // test name
  std::string fault;  // the table's description
  Mode mode = Mode::json;
  std::vector<Up> ups;
  int per_thread = 4;
  // What every answer must be. status 200 and code empty: a success from upstream `upstream`
  // after `ups.size()` attempts. in_band: a 200 stream that ends with an error event.
  int status = 200;
  std::string code, type;
  bool in_band = false;
  std::string retry_after;      // error answers: this retry-after, or none at all when empty
  int events_before_error = -1;  // in-band: exactly this many data events first (-1: any)
  std::string upstream;          // successes: who answered
  std::chrono::milliseconds max_latency{3000};
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

std::string directives(const std::string& extra) { return "m;tokens=12;" + extra; }

Up make_up(Up::Where where, std::string name, std::string model_id, std::string reason) {
  Up u;
  u.where = where;
  u.name = std::move(name);
  u.model_id = std::move(model_id);
  u.error_reason = std::move(reason);
  return u;
}
Up faulty(std::string name, const std::string& fault, std::string reason) {
  return make_up(Up::Where::sim, std::move(name), directives(fault), std::move(reason));
}
Up dead() { return make_up(Up::Where::closed_port, "dead", "m", "connect"); }
Up tls_to_plain() { return make_up(Up::Where::https_to_plain_sim, "tls", "m", "tls"); }
Up good() { return make_up(Up::Where::sim, "good", "m;tokens=12", ""); }

// The in-band error a stream ends with, or the error an answer is.
Case error_case(std::string name, std::string fault, Mode mode, Up up, int status,
                std::string code, std::string type) {
  Case c;
  c.name = std::move(name);
  c.fault = std::move(fault);
  c.mode = mode;
  c.ups = {std::move(up)};
  c.status = status;
  c.code = std::move(code);
  c.type = std::move(type);
  return c;
}

std::vector<Case> matrix() {
  std::vector<Case> cases;
  // The same fault on a plain request and on a stream; `tweak` adjusts both cases.
  auto both = [&](const std::string& name, const std::string& fault, const Up& up, int status,
                  const std::string& code, const std::string& type,
                  const std::function<void(Case&)>& tweak = {}) {
    for (auto mode : {Mode::json, Mode::sse}) {
      auto c = error_case(name + (mode == Mode::json ? "_json" : "_sse"), fault, mode, up, status,
                          code, type);
      if (tweak) tweak(c);
      cases.push_back(std::move(c));
    }
  };
  both("refused", "connection refused (closed port)", dead(), 502, "connect", "api_error");
  both("reset", "closed before answering (`reset`)", faulty("reset", "reset", "connect"), 502,
       "connect", "api_error");
  cases.push_back(error_case("cut_mid_body_json", "closed mid-body (`cut_body_at=40`)", Mode::json,
                             faulty("cut", "cut_body_at=40", "protocol"), 502, "protocol",
                             "api_error"));
  {
    auto c = error_case("cut_mid_stream_sse", "closed mid-stream (`cut_after=3`)", Mode::sse,
                        faulty("cut", "cut_after=3", "protocol"), 200, "protocol", "api_error");
    c.in_band = true;
    c.events_before_error = 4;  // the role event and three content events
    cases.push_back(c);
  }
  both("stall_first_byte", "stalled before the first byte (`stall_first_byte`)",
       faulty("stalled", "stall_first_byte", "timeout_first_token"), 504, "timeout_first_token",
       "timeout_error", [](Case& c) { c.per_thread = 2; });
  {
    auto up = faulty("stalled", "stall_body_at=40", "timeout_total");
    up.total_timeout_ms = 1500;
    auto c = error_case("stall_mid_body_json", "stalled mid-body (`stall_body_at=40`, total 1.5 s)",
                        Mode::json, up, 504, "timeout_total", "timeout_error");
    c.per_thread = 2;
    cases.push_back(c);
  }
  {
    auto c = error_case("stall_mid_stream_sse", "stalled mid-stream (`stall_after=2`)", Mode::sse,
                        faulty("stalled", "stall_after=2", "timeout_idle_stream"), 200,
                        "timeout_idle_stream", "timeout_error");
    c.in_band = true;
    c.events_before_error = 3;
    cases.push_back(c);
  }
  both("status_429", "429 with `retry-after: 2`",
       faulty("limited", "status=429;retry_after_s=2", "upstream_status"), 429,
       "upstream_rate_limited", "rate_limit_error", [](Case& c) { c.retry_after = "2"; });
  both("status_503", "503 with `retry-after: 3`",
       faulty("down", "status=503;retry_after_s=3", "upstream_status"), 503, "upstream_error",
       "api_error", [](Case& c) { c.retry_after = "3"; });
  both("status_500", "500 without retry-after", faulty("broken", "status=500", "upstream_status"),
       502, "upstream_error", "api_error");
  both("bad_json", "200 whose body or events are not JSON (`bad_json`)",
       faulty("bad", "bad_json", "protocol"), 502, "protocol", "api_error");
  {
    auto up = faulty("huge", "pad_bytes=200000", "response_too_large");
    up.extra = "    max_response_bytes: 100000\n";
    cases.push_back(error_case("oversized_json",
                               "200 of 200 kB over `max_response_bytes: 100000` (`pad_bytes`)",
                               Mode::json, up, 502, "response_too_large", "api_error"));
  }
  {
    Case c;
    c.name = "slow_drip_sse";
    c.fault = "slow drip within limits (`token_interval_ms=100`)";
    c.mode = Mode::sse;
    c.ups = {make_up(Up::Where::sim, "drip", "m;tokens=6;token_interval_ms=100", "")};
    c.upstream = "drip";
    c.per_thread = 2;
    cases.push_back(c);
  }
  {
    auto c = error_case("drip_over_idle_sse", "drip slower than the idle timeout (1200 ms > 500)",
                        Mode::sse, faulty("drip", "token_interval_ms=1200", "timeout_idle_stream"),
                        200, "timeout_idle_stream", "timeout_error");
    c.in_band = true;
    c.events_before_error = 1;  // the role event comes at once
    c.per_thread = 2;
    cases.push_back(c);
  }
  {
    auto up =
        make_up(Up::Where::sim, "drip", "m;tokens=40;token_interval_ms=200", "timeout_total");
    up.total_timeout_ms = 1500;
    auto c = error_case("drip_over_total_sse", "drip past the total timeout (40 x 200 ms > 1.5 s)",
                        Mode::sse, up, 200, "timeout_total", "timeout_error");
    c.in_band = true;
    c.per_thread = 2;
    cases.push_back(c);
  }
  both("tls_handshake", "TLS handshake with a plain-HTTP port", tls_to_plain(), 502, "tls",
       "api_error");
  both("garbage", "bytes that are not HTTP (`garbage`)", faulty("garbage", "garbage", "protocol"),
       502, "protocol", "api_error");

  // Fallback: every fault that happens before the first byte reaches the client, in one chain,
  // with a healthy upstream serving the same model last.
  auto chain = [] {
    return std::vector<Up>{dead(),
                           faulty("reset", "reset", "connect"),
                           faulty("garbage", "garbage", "protocol"),
                           tls_to_plain(),
                           faulty("limited", "status=429;retry_after_s=2", "upstream_status"),
                           faulty("down", "status=503;retry_after_s=3", "upstream_status"),
                           faulty("stalled", "stall_first_byte", "timeout_first_token"),
                           faulty("bad", "bad_json", "protocol")};
  };
  {
    Case c;
    c.name = "fallback_json";
    c.fault = "fallback: 10 faulty upstreams, then a healthy one";
    c.ups = chain();
    c.ups.push_back(faulty("cut", "cut_body_at=40", "protocol"));
    c.ups.push_back(faulty("huge", "pad_bytes=200000", "response_too_large"));
    c.ups.back().extra = "    max_response_bytes: 100000\n";
    c.ups.push_back(good());
    c.upstream = "good";
    c.per_thread = 2;
    cases.push_back(c);
  }
  {
    Case c;
    c.name = "fallback_sse";
    c.fault = "fallback: 9 faulty upstreams, then a healthy one";
    c.mode = Mode::sse;
    c.ups = chain();
    c.ups.push_back(faulty("plain", "ignore_stream", "protocol"));
    c.ups.push_back(good());
    c.upstream = "good";
    c.per_thread = 2;
    cases.push_back(c);
  }
  return cases;
}

// ---------------------------------------------------------------------------------------------
// Judging one answer.

// What an answer is, for the table: "502 connect", "200 stream", "200 + in-band protocol", …
// and, if it is not what the case expects, why.
struct Verdict {
  std::string kind;
  std::string problem;
};

std::string error_shape_problem(const json& j) {
  if (!j.is_object() || j.size() != 1 || !j.contains("error") || !j["error"].is_object())
    return "not {\"error\":{...}}";
  const auto& e = j["error"];
  if (!e.contains("message") || !e["message"].is_string() ||
      e["message"].get<std::string>().empty())
    return "error.message missing or empty";
  if (!e.contains("type") || !e["type"].is_string()) return "error.type missing";
  if (!e.contains("param") || !(e["param"].is_null() || e["param"].is_string()))
    return "error.param missing";
  if (!e.contains("code") || !(e["code"].is_null() || e["code"].is_string()))
    return "error.code missing";
  if (e["message"].get<std::string>().find("127.0.0.1") != std::string::npos)
    return "error.message leaks the upstream's address";
  return {};
}

std::string code_of(const json& j) {
  const auto& c = j["error"]["code"];
  return c.is_string() ? c.get<std::string>() : "null";
}

std::vector<std::string> sse_events(const std::string& body, bool& clean_end) {
  std::vector<std::string> out;
  std::size_t at = 0;
  for (auto end = body.find("\n\n"); end != std::string::npos; end = body.find("\n\n", at)) {
    auto ev = body.substr(at, end - at);
    if (ev.starts_with("data: ")) out.push_back(ev.substr(6));
    at = end + 2;
  }
  clean_end = at == body.size();
  return out;
}

Verdict judge(const Case& c, const Answer& a) {
  Verdict v;
  if (a.status == 0) return {"no answer", "no HTTP answer: " + a.failure};
  v.kind = std::to_string(a.status);
  std::vector<std::string> problems;
  auto problem = [&](std::string p) { problems.push_back(std::move(p)); };
  if (!a.complete) problem("truncated: " + a.failure);
  if (a.header("x-request-id").empty()) problem("no x-request-id");
  if (a.elapsed > c.max_latency)
    problem(fmt::format("took {} ms, over {} ms", a.elapsed.count(), c.max_latency.count()));

  const bool stream_answer = c.mode == Mode::sse && a.status == 200;
  if (!stream_answer) {
    auto j = json::parse(a.body, nullptr, false);
    if (a.status == 200) {
      if (j.is_discarded() || j.value("object", "") != "chat.completion" ||
          !j["choices"][0]["message"]["content"].is_string())
        problem("a 200 that is not a chat.completion: " + a.body.substr(0, 200));
    } else if (j.is_discarded()) {
      problem("an error body that is not JSON: " + a.body.substr(0, 200));
    } else if (auto shape = error_shape_problem(j); !shape.empty()) {
      problem(shape + ": " + a.body.substr(0, 200));
    } else {
      v.kind += " " + code_of(j);
      if (j["error"]["type"] != c.type)
        problem("error.type " + j["error"]["type"].dump() + ", expected " + c.type);
      if (a.header("content-type") != "application/json")
        problem("content-type " + a.header("content-type"));
      if (a.header("x-switchyard-attempts") != std::to_string(c.ups.size()))
        problem("x-switchyard-attempts " + a.header("x-switchyard-attempts"));
      const auto ra = a.header("retry-after");
      if (ra != c.retry_after)
        problem("retry-after '" + ra + "', expected '" + c.retry_after + "'");
      if (!c.retry_after.empty() &&
          a.header("retry-after-ms") != std::to_string(std::stoi(c.retry_after) * 1000))
        problem("retry-after-ms " + a.header("retry-after-ms"));
      // Every candidate was tried: an SDK retry helps only when an upstream said when.
      const std::string should_retry = c.retry_after.empty() ? "false" : "true";
      if (a.header("x-should-retry") != should_retry)
        problem("x-should-retry '" + a.header("x-should-retry") + "', expected '" + should_retry +
                "'");
    }
  } else {
    if (a.header("content-type") != "text/event-stream")
      problem("content-type " + a.header("content-type"));
    bool clean_end = false;
    auto events = sse_events(a.body, clean_end);
    if (!clean_end) problem("the body ends inside an event");
    if (events.empty()) {
      problem("a stream without events");
    } else if (events.back() == "[DONE]") {
      v.kind += " stream";
      for (std::size_t i = 0; i + 1 < events.size(); ++i) {
        auto j = json::parse(events[i], nullptr, false);
        if (j.is_discarded() || j.value("object", "") != "chat.completion.chunk") {
          v.kind += " of broken events";
          problem("event " + std::to_string(i) + " is not a chunk: " + events[i].substr(0, 120));
          break;
        }
      }
      if (a.header("x-switchyard-cost-usd").empty()) problem("no cost trailer");
    } else {
      auto j = json::parse(events.back(), nullptr, false);
      if (j.is_discarded() || !j.contains("error")) {
        v.kind += " silent truncation";
        problem("the stream ended with neither [DONE] nor an error event: " +
                events.back().substr(0, 120));
      } else if (auto shape = error_shape_problem(j); !shape.empty()) {
        problem("in-band error " + shape);
      } else {
        v.kind += " + in-band " + code_of(j);
        if (j["error"]["type"] != c.type)
          problem("error.type " + j["error"]["type"].dump() + ", expected " + c.type);
        for (const auto& e : events)
          if (e == "[DONE]") problem("[DONE] before the error event");
        if (c.events_before_error >= 0 &&
            events.size() != static_cast<std::size_t>(c.events_before_error) + 1)
          problem(fmt::format("{} events before the error, expected {}", events.size() - 1,
                              c.events_before_error));
      }
    }
  }

  std::string expected = std::to_string(c.status);
  if (c.code.empty()) expected += c.mode == Mode::sse ? " stream" : "";
  else expected += (c.in_band ? " + in-band " : " ") + c.code;
  if (v.kind != expected) problem("got '" + v.kind + "', expected '" + expected + "'");
  if (c.code.empty() && a.status == 200) {
    if (a.header("x-switchyard-upstream") != c.upstream)
      problem("answered by " + a.header("x-switchyard-upstream"));
    if (a.header("x-switchyard-attempts") != std::to_string(c.ups.size()))
      problem("x-switchyard-attempts " + a.header("x-switchyard-attempts") + ", expected " +
              std::to_string(c.ups.size()));
  }
  for (const auto& p : problems) v.problem += (v.problem.empty() ? "" : "; ") + p;
  return v;
}

// ---------------------------------------------------------------------------------------------

// Breakers off: the matrix is about what each fault does to a request, and the fallback rows
// send every request through every fault. With breakers on, traffic would rightly skip the
// faulty upstreams after a few failures (tests/unit/router/breaker_test.cpp).
std::string config_for(const Case& c, unsigned short sim_port, unsigned short refused_port) {
  std::string y = "upstreams:\n";
  for (const auto& up : c.ups) {
    const auto base = up.where == Up::Where::closed_port
                          ? fmt::format("http://127.0.0.1:{}/v1", refused_port)
                      : up.where == Up::Where::https_to_plain_sim
                          ? fmt::format("https://127.0.0.1:{}/v1", sim_port)
                          : fmt::format("http://127.0.0.1:{}/v1", sim_port);
    y += fmt::format(
        "  - name: {}\n    base_url: {}\n    connect_timeout_ms: 500\n"
        "    first_token_timeout_ms: 1000\n    idle_stream_timeout_ms: 500\n"
        "    total_timeout_ms: {}\n    breaker: {{enabled: false}}\n{}"
        "    models:\n      - name: m\n        id: \"{}\"\n",
        up.name, base, up.total_timeout_ms, up.extra, up.model_id);
  }
  return y;
}

struct Row {
  std::string fault, mode;
  int requests = 0, correct = 0;
  std::map<std::string, int> kinds;
  long long max_ms = 0;
};

void print_table(const std::vector<Row>& rows) {
  std::cout << "\n| case | mode | requests | answered correctly | answers (status + code x count) "
               "| slowest |\n|---|---|---:|---:|---|---:|\n";
  for (const auto& r : rows) {
    std::string kinds;
    for (const auto& [k, n] : r.kinds)
      kinds += (kinds.empty() ? "" : ", ") + k + " x" + std::to_string(n);
    std::cout << fmt::format("| {} | {} | {} | {} | {} | {} ms |\n", r.fault, r.mode, r.requests,
                             r.correct, kinds, r.max_ms);
  }
  std::cout << std::endl;
}

// Runs one case: a fresh sim and gateway, kThreads clients, every answer judged; then the
// gateway must have nothing in flight, each faulty upstream must have counted every failure,
// and the gateway must still be healthy.
Row run_case(const Case& c) {
  Row row;
  row.fault = c.fault;
  row.mode = c.mode == Mode::sse ? "stream" : "json";
  row.requests = kThreads * c.per_thread;
  auto sim = start_sim();
  if (!sim) return row;
  GatewayUnderTest gw(config_for(c, sim->port(), closed_port()));

  const std::string body =
      chat_body("m", c.mode == Mode::sse ? R"("stream":true)" : std::string());
  std::vector<Answer> answers(static_cast<std::size_t>(row.requests));
  std::vector<std::thread> clients;
  clients.reserve(kThreads);
  for (int t = 0; t < kThreads; ++t)
    clients.emplace_back([&, t] {
      for (int i = 0; i < c.per_thread; ++i)
        answers[static_cast<std::size_t>(t) * static_cast<std::size_t>(c.per_thread) +
                static_cast<std::size_t>(i)] = post(gw.port(), body);
    });
  for (auto& th : clients) th.join();

  int reported = 0;
  for (const auto& a : answers) {
    auto v = judge(c, a);
    ++row.kinds[v.kind];
    row.max_ms = std::max<long long>(row.max_ms, a.elapsed.count());
    if (v.problem.empty()) {
      ++row.correct;
    } else if (reported++ < 3) {
      ADD_FAILURE() << c.name << ": " << v.problem << "\n  body: " << a.body.substr(0, 400);
    }
  }
  EXPECT_EQ(row.correct, row.requests) << c.name;

  std::string metrics;
  EXPECT_TRUE(eventually([&] {
    metrics = http_request(gw.port(), "GET", "/metrics").body;
    return metric(metrics, "switchyard_requests_in_flight") == 0;
  })) << "switchyard_requests_in_flight did not return to 0:\n"
      << metrics.substr(0, 2000);
  for (const auto& up : c.ups) {
    if (up.error_reason.empty()) continue;
    const auto series = fmt::format(
        R"(switchyard_upstream_errors_total{{reason="{}",upstream="{}"}})", up.error_reason,
        up.name);
    EXPECT_EQ(metric(metrics, series), row.requests) << series;
  }
  EXPECT_EQ(http_request(gw.port(), "GET", "/healthz").status, 200);
  return row;
}

class FaultMatrixTest : public ::testing::TestWithParam<Case> {
 protected:
  static void TearDownTestSuite() {
    if (!rows().empty()) print_table(rows());
    rows().clear();
  }
  static std::vector<Row>& rows() {
    static std::vector<Row> r;
    return r;
  }
};

TEST_P(FaultMatrixTest, EveryAnswerIsCorrect) { rows().push_back(run_case(GetParam())); }

INSTANTIATE_TEST_SUITE_P(FaultMatrix, FaultMatrixTest, ::testing::ValuesIn(matrix()),
                         [](const ::testing::TestParamInfo<Case>& info) {
                           return info.param.name;
                         });

// The judge itself: what the gateway must never do, the sim does when asked directly, and each
// must be caught.
TEST(FaultMatrixJudge, CatchesSilentTruncationAndMissingAnswers) {
  auto sim = start_sim();
  ASSERT_TRUE(sim);
  auto cut = error_case("cut", "", Mode::sse, faulty("cut", "cut_after=3", "protocol"), 200,
                        "protocol", "api_error");
  cut.in_band = true;
  auto a = post(sim->port(), chat_body("m;tokens=10;cut_after=3", R"("stream":true)"));
  auto v = judge(cut, a);
  EXPECT_EQ(a.status, 200);
  EXPECT_FALSE(a.complete);
  EXPECT_NE(v.problem.find("truncated"), std::string::npos) << v.problem;
  EXPECT_NE(v.problem.find("silent truncation"), std::string::npos) << v.problem;

  auto garbage = error_case("garbage", "", Mode::json, faulty("g", "garbage", "protocol"), 502,
                            "protocol", "api_error");
  v = judge(garbage, post(sim->port(), chat_body("m;garbage")));
  EXPECT_EQ(v.kind, "no answer");
  EXPECT_FALSE(v.problem.empty());

  // The sim's own 429 has no retry-after-ms and is not what the gateway owes its client.
  auto limited = error_case("limited", "", Mode::json, faulty("l", "", ""), 429,
                            "upstream_rate_limited", "rate_limit_error");
  limited.retry_after = "2";
  v = judge(limited, post(sim->port(), chat_body("m;status=429;retry_after_s=2")));
  EXPECT_NE(v.problem.find("retry-after-ms"), std::string::npos) << v.problem;
  EXPECT_NE(v.problem.find("expected '429 upstream_rate_limited'"), std::string::npos)
      << v.problem;
}

}  // namespace
}  // namespace switchyard::test

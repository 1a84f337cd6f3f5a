// An open-loop load generator for bench/proxy.sh: sends POSTs at a fixed rate over a fixed set
// of keep-alive connections to 127.0.0.1 and reports latency measured from each request's
// *scheduled* send time, so a target that falls behind cannot hide it (no coordinated
// omission). Request i is due at start + i/rate on connection i mod C; when that connection is
// still busy with an earlier answer at the due time, the slot is counted as missed and the
// request goes out as soon as the connection is free. wrk, closed-loop, cannot do this.
//
//   pace --port 8080 --path /v1/chat/completions --body FILE --rate 2000 --connections 64
//        --seconds 10 [--header 'name: value']... [--first-byte]
//
// Prints one JSON object: sent, ok, errors, missed (slots), rate achieved, and the latency
// percentiles in ms: to the whole answer, or with --first-byte to the first bytes of its body
// (a stream's first event), the rest of the answer read after. Each request's body is FILE with every "{n}" replaced by the request's
// number, so a cache sees no two alike. Single-threaded: pin it to a core of its own.
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <limits>
#include <string>
#include <vector>

namespace net = boost::asio;
namespace http = boost::beast::http;
using Clock = std::chrono::steady_clock;

namespace {

struct Options {
  unsigned short port = 8080;
  std::string path = "/v1/chat/completions";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  double rate = 200;
  int connections = 64;
  double seconds = 10;
  bool first_byte = false;  // time the first body bytes, not the whole answer
};

struct Totals {
  std::uint64_t sent = 0, ok = 0, errors = 0, missed = 0;
  std::vector<double> latency_ms;  // of every answered request, from its due time
};

std::string body_for(const std::string& pattern, std::uint64_t n) {
  std::string out;
  out.reserve(pattern.size() + 16);
  for (std::size_t at = 0;;) {
    const auto hole = pattern.find("{n}", at);
    out.append(pattern, at, hole == std::string::npos ? std::string::npos : hole - at);
    if (hole == std::string::npos) return out;
    out += std::to_string(n);
    at = hole + 3;
  }
}

// One connection: its requests are numbers first, first + step, ... due at their slots.
net::awaitable<void> connection(const Options& o, Totals& t, Clock::time_point start,
                                std::uint64_t first, std::uint64_t step, std::uint64_t total) {
  auto ex = co_await net::this_coro::executor;
  net::ip::tcp::socket socket(ex);
  net::steady_timer timer(ex);
  boost::beast::flat_buffer buffer;
  const net::ip::tcp::endpoint to(net::ip::address_v4::loopback(), o.port);
  bool open = false;
  for (std::uint64_t n = first; n < total; n += step) {
    const auto due = start + std::chrono::duration_cast<Clock::duration>(
                                 std::chrono::duration<double>(static_cast<double>(n) / o.rate));
    if (Clock::now() > due + std::chrono::milliseconds(1)) {
      ++t.missed;  // still busy with the last answer when this one was due
    } else {
      timer.expires_at(due);
      co_await timer.async_wait(net::use_awaitable);
    }
    boost::system::error_code ec;
    if (!open) {
      socket = net::ip::tcp::socket(ex);
      co_await socket.async_connect(to, net::redirect_error(net::use_awaitable, ec));
      if (ec) {
        ++t.sent, ++t.errors;
        continue;
      }
      socket.set_option(net::ip::tcp::no_delay(true));
      open = true;
    }
    http::request<http::string_body> req{http::verb::post, o.path, 11};
    req.set(http::field::host, "127.0.0.1");
    req.set(http::field::content_type, "application/json");
    for (const auto& [k, v] : o.headers) req.set(k, v);
    req.body() = body_for(o.body, n);
    req.prepare_payload();
    ++t.sent;
    co_await http::async_write(socket, req, net::redirect_error(net::use_awaitable, ec));
    http::response_parser<http::string_body> parser;
    parser.body_limit(std::numeric_limits<std::uint64_t>::max());
    Clock::time_point answered{};
    if (!ec && o.first_byte) {
      co_await http::async_read_header(socket, buffer, parser,
                                       net::redirect_error(net::use_awaitable, ec));
      while (!ec && !parser.is_done() && parser.get().body().empty())
        co_await http::async_read_some(socket, buffer, parser,
                                       net::redirect_error(net::use_awaitable, ec));
      answered = Clock::now();
    }
    if (!ec && !parser.is_done())
      co_await http::async_read(socket, buffer, parser, net::redirect_error(net::use_awaitable, ec));
    if (!o.first_byte) answered = Clock::now();
    const auto& res = parser.get();
    if (ec || res.result_int() >= 300) {
      ++t.errors;
      if (ec || !res.keep_alive()) {
        boost::system::error_code ignored;
        socket.close(ignored);
        open = false;
      }
      continue;
    }
    ++t.ok;
    t.latency_ms.push_back(std::chrono::duration<double, std::milli>(answered - due).count());
    if (!res.keep_alive()) {
      boost::system::error_code ignored;
      socket.close(ignored);
      open = false;
    }
  }
}

double percentile(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  const auto k = static_cast<std::size_t>(p / 100 * static_cast<double>(v.size() - 1));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  return v[k];
}

int usage() {
  std::fprintf(stderr,
               "usage: pace --port P --body FILE --rate R [--path /v1/chat/completions] "
               "[--connections 64] [--seconds 10] [--header 'name: value']... [--first-byte]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--first-byte") {
      o.first_byte = true;
      continue;
    }
    if (i + 1 >= argc) return usage();
    const std::string v = argv[++i];
    if (a == "--port") o.port = static_cast<unsigned short>(std::stoi(v));
    else if (a == "--path") o.path = v;
    else if (a == "--rate") o.rate = std::stod(v);
    else if (a == "--connections") o.connections = std::stoi(v);
    else if (a == "--seconds") o.seconds = std::stod(v);
    else if (a == "--header") {
      const auto colon = v.find(':');
      if (colon == std::string::npos) return usage();
      o.headers.emplace_back(v.substr(0, colon), v.substr(v.find_first_not_of(' ', colon + 1)));
    } else if (a == "--body") {
      std::ifstream f(v);
      if (!f) return usage();
      o.body.assign(std::istreambuf_iterator<char>(f), {});
    } else {
      return usage();
    }
  }
  if (o.body.empty() || o.rate <= 0 || o.connections <= 0 || o.seconds <= 0) return usage();
  net::io_context io(1);
  Totals t;
  const auto total = static_cast<std::uint64_t>(o.rate * o.seconds);
  t.latency_ms.reserve(total);
  const auto start = Clock::now() + std::chrono::milliseconds(100);  // every connection ready
  for (int c = 0; c < o.connections; ++c)
    net::co_spawn(io, connection(o, t, start, static_cast<std::uint64_t>(c),
                                 static_cast<std::uint64_t>(o.connections), total),
                  net::detached);
  io.run();
  const double took = std::chrono::duration<double>(Clock::now() - start).count();
  std::printf(
      "{\"sent\":%llu,\"ok\":%llu,\"errors\":%llu,\"missed\":%llu,\"rate\":%.1f,"
      "\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"p999_ms\":%.3f,\"max_ms\":%.3f}\n",
      static_cast<unsigned long long>(t.sent), static_cast<unsigned long long>(t.ok),
      static_cast<unsigned long long>(t.errors), static_cast<unsigned long long>(t.missed),
      static_cast<double>(t.ok) / took, percentile(t.latency_ms, 50), percentile(t.latency_ms, 99),
      percentile(t.latency_ms, 99.9), percentile(t.latency_ms, 100));
  return 0;
}

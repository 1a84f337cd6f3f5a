// Holds many streaming requests open at once, for bench/proxy.sh: opens --streams connections to
// 127.0.0.1 (500 every 50 ms, so that the test is of holding streams, not of surviving a SYN
// flood), sends each a streaming POST, and waits until every stream has its response head
// (the proxy holds them all), then samples --pid's resident memory, then waits for every
// stream to end with "data: [DONE]". A mock upstream that keeps each stream idle for a while
// between its events makes them idle streams.
//
//   hold --port 8080 --body FILE --streams 10000 --pid PID [--path /v1/chat/completions]
//        [--seconds 60]
//
// Prints one JSON object: streams, opened (heads received), completed (ended with [DONE]),
// failed (and how many for each step and reason), and the RSS in MB of PID before, with all
// open, and at the end. Raises its own open file limit; the proxy needs one above twice
// --streams (a client and an upstream socket each).
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <sys/resource.h>

#include <cstdio>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <string>

namespace net = boost::asio;
namespace http = boost::beast::http;

namespace {

struct Totals {
  int opened = 0, completed = 0, failed = 0;
  std::map<std::string, int> why;  // failures by step and reason

  void fail(const char* step, const std::string& reason) {
    ++failed;
    ++why[std::string(step) + ": " + reason];
  }
};

double rss_mb(int pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line))
    if (line.starts_with("VmRSS:")) return std::stod(line.substr(6)) / 1024;
  return -1;
}

net::awaitable<void> stream(unsigned short port, const std::string& path, const std::string& body,
                            Totals& t) {
  auto ex = co_await net::this_coro::executor;
  net::ip::tcp::socket socket(ex);
  boost::system::error_code ec;
  co_await socket.async_connect({net::ip::address_v4::loopback(), port},
                                net::redirect_error(net::use_awaitable, ec));
  http::request<http::string_body> req{http::verb::post, path, 11};
  req.set(http::field::host, "127.0.0.1");
  req.set(http::field::content_type, "application/json");
  req.body() = body;
  req.prepare_payload();
  if (ec) co_return t.fail("connect", ec.message());
  co_await http::async_write(socket, req, net::redirect_error(net::use_awaitable, ec));
  if (ec) co_return t.fail("write", ec.message());
  boost::beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(1 << 20);
  co_await http::async_read_header(socket, buffer, parser,
                                   net::redirect_error(net::use_awaitable, ec));
  if (ec) co_return t.fail("head", ec.message());
  if (parser.get().result_int() != 200)
    co_return t.fail("head", "status " + std::to_string(parser.get().result_int()));
  ++t.opened;
  co_await http::async_read(socket, buffer, parser, net::redirect_error(net::use_awaitable, ec));
  if (ec) co_return t.fail("body", ec.message());
  if (parser.get().body().find("data: [DONE]") == std::string::npos)
    co_return t.fail("body", "no [DONE]");
  ++t.completed;
}

// Starts `streams` streams, 500 every 50 ms.
net::awaitable<void> open_all(int streams, unsigned short port, const std::string& path,
                              const std::string& body, Totals& t) {
  auto ex = co_await net::this_coro::executor;
  net::steady_timer ramp(ex);
  for (int i = 0; i < streams; ++i) {
    if (i > 0 && i % 500 == 0) {
      ramp.expires_after(std::chrono::milliseconds(50));
      co_await ramp.async_wait(net::use_awaitable);
    }
    net::co_spawn(ex, stream(port, path, body, t), net::detached);
  }
}

}  // namespace

int main(int argc, char** argv) {
  unsigned short port = 0;
  std::string body, path = "/v1/chat/completions";
  int streams = 10000, pid = 0;
  double seconds = 60;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i], v = argv[i + 1];
    if (a == "--port") port = static_cast<unsigned short>(std::stoi(v));
    else if (a == "--streams") streams = std::stoi(v);
    else if (a == "--pid") pid = std::stoi(v);
    else if (a == "--path") path = v;
    else if (a == "--seconds") seconds = std::stod(v);
    else if (a == "--body") {
      std::ifstream f(v);
      body.assign(std::istreambuf_iterator<char>(f), {});
    }
  }
  if (port == 0 || body.empty() || pid == 0 || streams <= 0) {
    std::fprintf(stderr, "usage: hold --port P --body FILE --pid PID [--streams 10000] "
                         "[--path /v1/chat/completions] [--seconds 60]\n");
    return 2;
  }
  rlimit files{};
  getrlimit(RLIMIT_NOFILE, &files);
  files.rlim_cur = files.rlim_max;
  setrlimit(RLIMIT_NOFILE, &files);

  net::io_context io(1);
  Totals t;
  const double before = rss_mb(pid);
  double all_open = -1;
  net::co_spawn(io, open_all(streams, port, path, body, t), net::detached);
  // Samples the proxy's memory once every stream is open, and gives up after --seconds.
  net::steady_timer tick(io);
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                            std::chrono::duration<double>(seconds));
  std::function<void(boost::system::error_code)> watch = [&](boost::system::error_code) {
    if (all_open < 0 && t.opened + t.failed >= streams) all_open = rss_mb(pid);
    if (t.completed + t.failed >= streams) return;
    if (std::chrono::steady_clock::now() > deadline) {
      io.stop();
      return;
    }
    tick.expires_after(std::chrono::milliseconds(20));
    tick.async_wait(watch);
  };
  watch({});
  io.run();
  std::string why;
  for (const auto& [reason, n] : t.why) {
    std::string quoted;  // reasons are error messages: no quote or backslash, but be sure
    for (char c : reason) quoted += c == '"' || c == '\\' ? '\'' : c;
    why += (why.empty() ? "\"" : ",\"") + quoted + "\":" + std::to_string(n);
  }
  std::printf("{\"streams\":%d,\"opened\":%d,\"completed\":%d,\"failed\":%d,"
              "\"rss_before_mb\":%.1f,\"rss_all_open_mb\":%.1f,\"rss_after_mb\":%.1f,"
              "\"failures\":{%s}}\n",
              streams, t.opened, t.completed, t.failed, before, all_open, rss_mb(pid),
              why.c_str());
  return t.completed == streams ? 0 : 1;
}

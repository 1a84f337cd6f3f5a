// A blocking HTTP/1.1 client for tests: one request per call, or an SSE reader that can hang up
// after N events. Talks to 127.0.0.1 only.
#pragma once

#include <chrono>
#include <map>
#include <string>
#include <vector>

namespace switchyard::test {

struct HttpResponse {
  int status = 0;  // 0: no HTTP response (connection closed or reset)
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
  std::string header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? std::string() : it->second;
  }
};

HttpResponse http_request(unsigned short port, const std::string& method, const std::string& target,
                          const std::string& body = {},
                          const std::map<std::string, std::string>& headers = {});

inline HttpResponse post_json(unsigned short port, const std::string& target,
                              const std::string& body,
                              const std::map<std::string, std::string>& headers = {}) {
  return http_request(port, "POST", target, body, headers);
}

struct SseResult {
  int status = 0;
  std::map<std::string, std::string> headers;
  std::vector<std::string> events;  // "data: ..." payloads without the prefix
  std::map<std::string, std::string> trailers;
  bool complete = false;  // the chunked body ended properly
  std::string error_body; // for a non-200 answer
};

// Posts `body` and reads the event stream; stops after `max_events` events (0: all) by closing
// the connection.
SseResult read_sse(unsigned short port, const std::string& body, std::size_t max_events = 0);

// Sends raw bytes and returns everything the server sends back until it closes or `wait` passes.
std::string raw_exchange(unsigned short port, const std::string& bytes,
                         std::chrono::milliseconds wait);

}  // namespace switchyard::test

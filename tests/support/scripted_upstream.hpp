// A raw upstream for tests: answers every request with the same bytes, whatever they are, and
// keeps the last request it received. For the misbehaviour no real server would produce on
// purpose (hop-by-hop headers, 101, non-JSON 200s, bytes that are not HTTP). 127.0.0.1 only.
#pragma once

#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace switchyard::test {

class ScriptedUpstream {
 public:
  // `response` is written verbatim after each request's body has been read; then the
  // connection closes.
  explicit ScriptedUpstream(std::string response) : ScriptedUpstream({std::move(response)}, {}) {}
  // The same in parts, each its own write, with `pause` after each but the last: the framing
  // of a stream split where the reader must wait for the rest.
  ScriptedUpstream(std::vector<std::string> parts, std::chrono::milliseconds pause);
  ~ScriptedUpstream();
  ScriptedUpstream(const ScriptedUpstream&) = delete;
  ScriptedUpstream& operator=(const ScriptedUpstream&) = delete;

  unsigned short port() const { return port_; }
  std::string last_request() const;  // head and body, as received
  int requests() const { return requests_.load(); }

 private:
  void serve();

  std::vector<std::string> parts_;
  std::chrono::milliseconds pause_;
  int listen_fd_ = -1;
  unsigned short port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> requests_{0};
  mutable std::mutex mutex_;
  std::string last_;
  std::thread thread_;
};

}  // namespace switchyard::test

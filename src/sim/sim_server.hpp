// switchyard-sim: an OpenAI-compatible upstream that generates deterministic answers, for the
// embedded demo and as the fake upstream of the integration tests.
//
// Behaviour is steered by directives in the model id, `name;key=value;flag`, so a gateway config
// can map a client model to a scripted upstream (the gateway rewrites `model` to the id):
//   delay_ms=N           wait before the response headers
//   status=N             answer with this HTTP status and an OpenAI error body
//   retry_after_s=N      with status: add retry-after
//   tokens=N             output tokens (default 8)
//   token_interval_ms=N  pause between stream events (default 0)
//   cut_after=N          stream: drop the connection after N content events
//   stall_after=N        stream: stop sending (but keep the connection) after N content events
//   garbage              reply with bytes that are not HTTP, then close
//   reset                close the connection without answering
//   no_usage             never report usage (the gateway must estimate)
//   ignore_stream        answer a stream request with a plain JSON body
#pragma once

#include "switchyard/error.hpp"

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

namespace switchyard {

class Workers;
class Listener;

struct SimStats {
  std::atomic<std::uint64_t> connections{0};       // accepted, ever
  std::atomic<std::int64_t> open_connections{0};   // accepted and not yet closed
  std::atomic<std::uint64_t> requests{0};
  std::atomic<std::uint64_t> cancelled_streams{0};  // streams whose client went away mid-way
  std::atomic<std::uint64_t> completed_streams{0};
};

struct SimOptions {
  std::string listen = "127.0.0.1:0";  // HOST:PORT; port 0 picks a free one
  unsigned workers = 1;
  std::string tls_cert_file;  // PEM; with tls_key_file, serve HTTPS instead of HTTP
  std::string tls_key_file;
};

class SimServer {
 public:
  static Result<std::unique_ptr<SimServer>> start(const SimOptions& options);
  ~SimServer();

  unsigned short port() const { return port_; }
  SimStats& stats() { return *stats_; }

 private:
  SimServer() = default;
  struct Tls;
  std::unique_ptr<Tls> tls_;
  std::unique_ptr<SimStats> stats_;
  std::unique_ptr<Workers> workers_;
  std::unique_ptr<Listener> listener_;
  unsigned short port_ = 0;
};

}  // namespace switchyard

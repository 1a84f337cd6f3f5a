// switchyard-sim: an OpenAI-compatible model fleet for the demo, benchmarks and tests. Each
// model has a price, log-normal time to first token and token rate, an error rate, a
// concurrency limit and scheduled episodes (config/sim-fleet.yaml). With a dataset it replays
// real recorded answers and reports their quality in `x-sim-quality`.
//
// Faults can be forced per request, by directives after the model name (`model;key=value;flag`,
// which a gateway config can put in an upstream model id) or in an `x-sim-fault` header
// (`key=value,flag`):
//   delay_ms=N           wait N ms (unscaled) before the response headers
//   stall_first_byte     never answer (the connection stays open)
//   status=N             answer with this HTTP status and an OpenAI error body
//   retry_after_s=N      with status: add retry-after
//   tokens=N             generate N output tokens
//   token_interval_ms=N  pause between stream events (unscaled), instead of the model's rate
//   cut_after=N          stream: drop the connection after N content events
//   stall_after=N        stream: stop sending (keep the connection) after N content events
//   cut_body_at=N        not a stream: send the head and N bytes of the body, then close
//   stall_body_at=N      not a stream: send the head and N bytes of the body, then stop sending
//   bad_json             200 whose body (or, on a stream, each event's data) is not JSON
//   pad_bytes=N          not a stream: add an N-byte "sim_padding" string to the answer
//   garbage              reply with bytes that are not HTTP, then close
//   reset                close the connection without answering
//   no_usage             never report usage
//   ignore_stream        answer a stream request with a plain JSON body
//   close_after_answer   answer (keep-alive, as the request asked), then close the connection
#pragma once

#include "sim/fleet.hpp"
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
  // Null: an open fleet that serves any model name instantly (the tests' fake upstream).
  std::shared_ptr<sim::Fleet> fleet;
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
  std::shared_ptr<sim::Fleet> fleet_;
  std::unique_ptr<Workers> workers_;
  std::unique_ptr<Listener> listener_;
  unsigned short port_ = 0;
};

}  // namespace switchyard

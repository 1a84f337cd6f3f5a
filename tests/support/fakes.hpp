// In-process stand-ins for the two sides of a dispatcher, so that a strategy can be tested with
// no socket: a FakeUpstream whose behaviour is chosen by the upstream model id it is sent (as
// TensorZero's dummy provider is steered by model name), and a RecordingWriter that keeps what
// would have gone to the client.
#pragma once

#include "metrics/metrics.hpp"
#include "router/snapshot.hpp"
#include "switchyard/router.hpp"

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace switchyard::test {

// Answers by the `model` in the forwarded body: "ok" (a chat completion with usage), "stream"
// (three content events, a usage chunk and [DONE]), "status=N" (that HTTP status), "connect"
// (a connection failure), "timeout" (a first-token timeout), "slow=N" or "slow=N,MODEL" (answers
// as "ok", or as MODEL, N ms later by `clock`), "fail-first=N" or "fail-first=N:MS" (a 503, with
// retry-after MS ms, for this upstream's first N calls, then "ok"; complete() only),
// "say=TEXT" or "say=TEXT|REASON" (answers TEXT, finished for REASON, default stop; asked for
// "n" choices, choice i says the i-th of TEXT's ';'-separated parts, cycling), "stall"
// (a stream: one token, then 10 s of nothing, then as "ok"; complete() as "ok"); any model asked
// for "/embeddings" answers each input's letter counts as its vector. Records
// every body it was sent. Completes on the caller's executor, at once unless slow.
class FakeUpstream final : public Upstream {
 public:
  Clock* clock = &system_clock();
  Task<Result<UpstreamReply>> complete(const OutboundRequest& request) override;
  Task<Result<UpstreamReply>> stream(const OutboundRequest& request, ChunkSink& sink) override;
  std::vector<std::string> bodies;
};

// Every index maps to its own FakeUpstream, created on first use, timed by `clock`.
class FakeUpstreams final : public UpstreamSet {
 public:
  explicit FakeUpstreams(Clock& clock = system_clock()) : clock_(&clock) {}
  Upstream& at(std::uint32_t index) override {
    auto& u = upstreams[index];
    u.clock = clock_;
    return u;
  }
  std::map<std::uint32_t, FakeUpstream> upstreams;

 private:
  Clock* clock_;
};

// Keeps the response: headers, status and body, or the stream's events and trailers.
class RecordingWriter final : public ResponseWriter {
 public:
  void set_header(std::string_view name, std::string_view value) override;
  void set_trailer(std::string_view name, std::string_view value) override;
  Task<Result<void>> send(int status, std::string_view content_type,
                          std::string_view body) override;
  void begin_stream() override;
  void write_event(std::string_view event) override;
  Task<Result<void>> flush() override;
  Task<Result<void>> end_stream() override;
  bool started() const override { return status != 0; }

  int status = 0;
  std::map<std::string, std::string> headers, trailers;
  std::string body;
  std::vector<std::string> events;
  int flushes = 0;
  bool ended = false;
};

// A snapshot built from config YAML, as the gateway builds one from its file; an invalid config
// fails the calling test and gives null.
std::shared_ptr<const Snapshot> snapshot_from_yaml(Metrics& metrics, const std::string& yaml);
// Why that config is refused, by the loader or the snapshot build; empty if it is not.
std::string snapshot_error(Metrics& metrics, const std::string& yaml);

// A snapshot with two upstreams, "a" and "b", both serving model "m" (priced 1 and 2 USD per
// million input and output tokens) under the upstream ids `first` and `second`: pick the fake
// behaviour of each. For dispatcher tests: the passthrough candidates of "m" are a's, then b's.
std::shared_ptr<const Snapshot> two_upstreams(Metrics& metrics, const std::string& first,
                                              const std::string& second = "ok");

// A chat completion request for model "m" with one user message; `extra` is spliced into the
// JSON object (e.g. R"(,"stream":true)").
ApiRequest chat_request(const std::string& extra = {});

// Runs a coroutine to completion on a private io_context and returns its result.
template <class T>
T run(Task<T> task);

// What dispatching one request did: its result, the response, and each call in order.
struct Dispatched {
  Result<void> result = Result<void>{};
  RecordingWriter out;
  std::vector<std::string> called;  // models
  std::vector<Reason> reasons;      // each call's outcome
  std::vector<double> costs;        // and what it cost
  std::chrono::milliseconds took{0};
};

// Resolves `request` from `caller` on `snap` and runs the route's dispatcher on `upstreams` to
// the end, as a session would; a request that does not resolve fails the calling test.
Dispatched dispatch_request(const Snapshot& snap, FakeUpstreams& upstreams, ApiRequest request,
                            const Caller& caller = {});

}  // namespace switchyard::test

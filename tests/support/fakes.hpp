// In-process stand-ins for the two sides of a dispatcher, so that a strategy can be tested with
// no socket: a FakeUpstream whose behaviour is chosen by the upstream model id it is sent (as
// TensorZero's dummy provider is steered by model name), and a RecordingWriter that keeps what
// would have gone to the client.
#pragma once

#include "switchyard/router.hpp"

#include <map>
#include <string>
#include <vector>

namespace switchyard::test {

// Answers by the `model` in the forwarded body: "ok" (a chat completion with usage), "stream"
// (three content events, a usage chunk and [DONE]), "status=N" (that HTTP status), "connect"
// (a connection failure), "timeout" (a first-token timeout). Records every body it was sent.
// Completes at once, on the caller's executor.
class FakeUpstream final : public Upstream {
 public:
  Task<Result<UpstreamReply>> complete(const OutboundRequest& request) override;
  Task<Result<UpstreamReply>> stream(const OutboundRequest& request, ChunkSink& sink) override;
  std::vector<std::string> bodies;
};

// Every index maps to its own FakeUpstream, created on first use.
class FakeUpstreams final : public UpstreamSet {
 public:
  Upstream& at(std::uint32_t index) override { return upstreams[index]; }
  std::map<std::uint32_t, FakeUpstream> upstreams;
};

// Keeps the response: headers, status and body, or the stream's events and trailers.
class RecordingWriter final : public ResponseWriter {
 public:
  void set_header(std::string_view name, std::string_view value) override;
  void set_trailer(std::string_view name, std::string_view value) override;
  Task<Result<void>> send(int status, std::string_view content_type,
                          std::string_view body) override;
  Task<Result<void>> begin_stream() override;
  Task<Result<void>> write_event(std::string_view event) override;
  Task<Result<void>> end_stream() override;
  bool started() const override { return status != 0; }

  int status = 0;
  std::map<std::string, std::string> headers, trailers;
  std::string body;
  std::vector<std::string> events;
  bool ended = false;
};

// Runs a coroutine to completion on a private io_context and returns its result.
template <class T>
T run(Task<T> task);

}  // namespace switchyard::test

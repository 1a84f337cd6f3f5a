// The upstream side of a request: one endpoint serving models over pooled HTTP(S) connections.
#pragma once

#include "switchyard/error.hpp"

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace switchyard {

template <class T>
using Task = boost::asio::awaitable<T>;

// What goes to the upstream: the path under its base_url and the body with `model` already
// rewritten to the upstream's id. Owned by the caller for the duration of the call.
struct OutboundRequest {
  std::string_view path;  // "/chat/completions", "/completions", "/embeddings"
  std::string_view body;
  std::string_view request_id;
  bool stream = false;
  // Client headers to pass on (the OpenAI-* headers the API defines), already vetted.
  std::span<const std::pair<std::string, std::string>> headers;
};

// The upstream's answer. For a stream that started (status 200, text/event-stream) `body` is
// empty: the events went to the ChunkSink.
struct UpstreamReply {
  int status = 0;
  std::string body;
  std::string content_type;
  std::string upstream_request_id;
  std::uint32_t retry_after_ms = 0;   // parsed from a 429/503's retry-after, if any
  // The upstream's other end-to-end headers (rate-limit state, processing time, …), relayed to
  // the client as a reverse proxy does; hop-by-hop and framing headers are left out.
  std::vector<std::pair<std::string, std::string>> headers;
  std::chrono::nanoseconds first_byte{0};  // request sent → first response byte (TTFT for streams)
};

// Receives SSE events, each a complete "data: ...\n\n" block including its terminator, in order,
// on the worker's executor. An error return (the client went away) stops the stream: the upstream
// connection is closed, not returned to the pool.
class ChunkSink {
 public:
  virtual ~ChunkSink() = default;
  // The head of a 2xx event stream, before its first event. `head.body` is empty.
  virtual void on_head(const UpstreamReply& head) = 0;
  // Passes the event on, or keeps it, without waiting: what is written waits for on_pause(),
  // or for the end of the stream.
  virtual Result<void> on_event(std::string_view event) = 0;
  // Before each wait for the upstream's next bytes (after the head, and after a read that did
  // not end the stream, once its events have been passed on; there may be none): the sink
  // writes out what it keeps (ResponseWriter::flush). Not after the last read: the caller ends
  // the stream, and what the sink keeps goes out then.
  virtual Task<Result<void>> on_pause() = 0;
};

// One upstream endpoint as seen by one worker. Not thread-safe: used only on the owning worker's
// io_context. Both calls honour cancellation (a race loser, a client that hung up): the in-flight
// socket operation is aborted, the connection is dropped and Reason::cancelled is returned.
// Timeouts (connect, first token, total, idle stream) come from the upstream's config and are
// reported as the matching Reason.
class Upstream {
 public:
  virtual ~Upstream() = default;

  // Sends a non-streaming request and reads the whole response. Any HTTP status is a value;
  // only transport failures and timeouts are errors.
  virtual Task<Result<UpstreamReply>> complete(const OutboundRequest& request) = 0;

  // Sends a streaming request. On a 200 event stream each event goes to `sink` as it arrives and
  // the reply has an empty body; on any other status the reply carries the upstream's body and
  // the sink is never called.
  virtual Task<Result<UpstreamReply>> stream(const OutboundRequest& request, ChunkSink& sink) = 0;
};

}  // namespace switchyard

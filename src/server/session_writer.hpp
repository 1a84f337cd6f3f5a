// The client side of one HTTP exchange: the ResponseWriter the API call, the admin endpoints and
// the dispatchers write the answer through.
#pragma once

#include "switchyard/router.hpp"

#include <boost/beast/core/tcp_stream.hpp>

#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <utility>

namespace switchyard {

// Writes one response to the client's stream, which the connection loop (serve_connection) owns
// and keeps alive for longer than the writer. Lives on the connection loop's frame, one per
// request; used only on the worker's executor. A stream's head and events are kept until flush()
// or end_stream() (ResponseWriter). Every write is bounded by `write_timeout`, so a client that
// stops reading cannot hold a worker's memory forever. A write that fails, times out or is
// cancelled (the client hung up) returns Reason::cancelled and marks the writer broken: the
// connection loop then closes the connection instead of reading another request from it. HTTP/1.0
// clients get no chunked framing and no keep-alive (a stream ends at close). A HEAD request gets
// the headers a GET would, and no body.
class SessionWriter final : public ResponseWriter {
 public:
  SessionWriter(boost::beast::tcp_stream& stream, unsigned version, bool keep_alive,
                std::chrono::milliseconds write_timeout, bool head_only = false)
      : stream_(stream), version_(version), keep_alive_(keep_alive && version >= 11),
        chunked_(version >= 11), head_only_(head_only), timeout_(write_timeout) {
    fields_.reserve(256);  // the gateway's headers (x-request-id, x-switchyard-*): one allocation
  }

  // The framing headers (Content-Length, Content-Type, Transfer-Encoding, Connection) are the
  // writer's own: a caller's (an upstream header an operator chose to relay) is ignored, as a
  // second framing header would make the answer ambiguous (RFC 9112 §6.3).
  void set_header(std::string_view name, std::string_view value) override {
    if (!is_framing(name)) set_line(fields_, field_names_, name, value);
  }
  void set_trailer(std::string_view name, std::string_view value) override {
    set_line(trailers_, trailer_names_, name, value);
  }
  Task<Result<void>> send(int status, std::string_view content_type,
                          std::string_view body) override;
  void begin_stream() override;
  void write_event(std::string_view event) override;
  Task<Result<void>> flush() override;
  Task<Result<void>> end_stream() override;

  bool started() const override { return started_; }
  bool keep_alive() const { return keep_alive_; }
  int status() const { return status_; }
  bool broken() const { return broken_; }

 private:
  Result<void> check(const boost::beast::error_code& ec);
  // Sets `name` in `lines` (header lines, each "Name: value" and CRLF), replacing a line of the
  // same name in any case. `names` has a bit set for each name in `lines` (by its length and
  // last letter): the lines are searched only when the bit of `name` is set, which it mostly is
  // not.
  static void set_line(std::string& lines, std::uint64_t& names, std::string_view name,
                       std::string_view value);
  static bool is_framing(std::string_view name);
  using Header = std::pair<std::string_view, std::string_view>;
  // Appends the status line, the headers set so far and `framing` to pending_.
  void head(int status, std::initializer_list<Header> framing);

  boost::beast::tcp_stream& stream_;
  unsigned version_;
  bool keep_alive_;
  bool chunked_;
  bool head_only_;
  std::chrono::milliseconds timeout_;
  // A stream's bytes not yet written (its head, then framed events), until flush() or
  // end_stream(): a burst of events costs one write, not one each. Bounded by what the caller
  // writes between flushes: one upstream read's events, or 64 KB of a kept answer's.
  std::string pending_;
  std::string fields_, trailers_;  // header lines as they will be written
  std::uint64_t field_names_ = 0, trailer_names_ = 0;  // set_line's bits
  bool started_ = false;
  bool broken_ = false;
  int status_ = 0;
};

// Answers with `e` in OpenAI's shape. An error that carries a retry delay adds retry-after /
// retry-after-ms (at most 60 s, but for the gateway's own limits) and x-should-retry: true, or
// false when that wait is over a minute. Completes as SessionWriter::send does.
Task<Result<void>> send_error(SessionWriter& out, const Error& e);

}  // namespace switchyard

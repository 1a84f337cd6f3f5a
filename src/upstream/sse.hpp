#pragma once

#include <string>
#include <string_view>

namespace switchyard {

// Splits a byte stream into SSE events. Bytes arrive in arbitrary pieces; each complete event (up
// to and including its blank line: "\n\n", or "\n\r\n" as in "\r\n\r\n") is handed out whole, so
// a relay can forward it unchanged. Owns one buffer that only ever holds the unfinished tail,
// and gives back what a large feed took once the events in it are handed out.
class SseSplitter {
 public:
  explicit SseSplitter(std::size_t max_event_bytes = 1 << 20) : max_(max_event_bytes) {}

  void feed(std::string_view bytes) { buf_.append(bytes); }

  // The next complete event, or empty when more bytes are needed. The view is valid until the
  // next call to feed() or next().
  std::string_view next();

  // An event longer than max_event_bytes without a terminator: the stream is not SSE.
  bool overflowed() const { return buf_.size() - pos_ > max_; }
  // Bytes buffered that do not yet form a complete event.
  std::size_t pending() const { return buf_.size() - pos_; }

 private:
  std::string buf_;
  std::size_t pos_ = 0;
  std::size_t scanned_ = 0;  // bytes after pos_ already searched for a terminator
  std::size_t max_;
  static constexpr std::size_t kKeep = 4096;  // the buffer's capacity kept between feeds
};

}  // namespace switchyard

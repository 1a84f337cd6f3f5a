// SseSplitter against a byte stream cut into pieces of fuzzer-chosen sizes, checked against a
// reference model of the split after every piece.
//
// Input layout:
//   byte 0        n = byte0 % 8 + 1 piece sizes follow; max_event_bytes = (byte0 / 8) * 8, or the
//                 default (1 MiB) when that is 0, so small limits exercise overflow
//   bytes 1..n    piece sizes, used in turn (0 feeds an empty piece)
//   the rest      the stream
#include "fuzz.hpp"
#include "upstream/sse.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace {

using fuzz::check;

// Where the first event of `s` ends (just past its blank line: "\n\n", or "\n\r\n", which covers
// "\r\n\r\n" and a CRLF blank line after an LF line), or npos.
std::size_t first_event_end(std::string_view s) {
  for (std::size_t i = 0; i + 1 < s.size(); ++i) {
    if (s[i] != '\n') continue;
    if (s[i + 1] == '\n') return i + 2;
    if (s[i + 1] == '\r' && i + 2 < s.size() && s[i + 2] == '\n') return i + 3;
  }
  return std::string_view::npos;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const std::size_t n_sizes = data[0] % 8 + 1;
  if (size < 1 + n_sizes) return 0;
  const std::size_t limit = static_cast<std::size_t>(data[0] / 8) * 8;
  const std::uint8_t* sizes = data + 1;
  std::string_view stream(reinterpret_cast<const char*>(data + 1 + n_sizes), size - 1 - n_sizes);

  bool any_nonzero = false;
  for (std::size_t i = 0; i < n_sizes; ++i) any_nonzero |= sizes[i] != 0;

  switchyard::SseSplitter splitter =
      limit ? switchyard::SseSplitter(limit) : switchyard::SseSplitter();
  const std::size_t max = limit ? limit : std::size_t{1} << 20;
  std::string fed;     // every byte fed so far
  std::size_t consumed = 0;  // bytes of `fed` handed out as events

  std::size_t pos = 0;
  for (std::size_t k = 0; pos < stream.size(); ++k) {
    std::size_t piece = any_nonzero ? sizes[k % n_sizes] : stream.size();
    if (piece > stream.size() - pos) piece = stream.size() - pos;
    auto bytes = stream.substr(pos, piece);
    pos += piece;
    const std::size_t before = fed.size();
    splitter.feed(bytes);
    fed.append(bytes);

    for (auto event = splitter.next(); !event.empty(); event = splitter.next()) {
      // Each event is exactly the next bytes of the stream, up to and including the first blank
      // line: complete, terminated, and not swallowing a second event.
      check(event.size() <= fed.size() - consumed);
      check(event == std::string_view(fed).substr(consumed, event.size()));
      check(event.ends_with("\n\n") || event.ends_with("\n\r\n"));
      check(first_event_end(event) == event.size());
      consumed += event.size();
    }
    // Drained: nothing was lost or duplicated, and what is left holds no complete event. The
    // tail had none before this piece, so only a blank line ending in the new bytes can be one
    // (scanning the whole tail each time would make this check quadratic).
    check(consumed + splitter.pending() == fed.size());
    const std::size_t from = before >= 2 && before - 2 > consumed ? before - 2 : consumed;
    check(first_event_end(std::string_view(fed).substr(from)) == std::string_view::npos);
    check(splitter.overflowed() == (splitter.pending() > max));
    if (splitter.overflowed()) break;  // the caller gives up on the stream: it is not SSE
  }
  return 0;
}

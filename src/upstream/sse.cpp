#include "upstream/sse.hpp"

#include <cstring>

namespace switchyard {

std::string_view SseSplitter::next() {
  if (pos_ > 0 && pos_ == buf_.size()) {
    // A burst read at once is not kept for the rest of a held stream.
    if (buf_.capacity() > kKeep) buf_ = std::string();
    else buf_.clear();
    pos_ = 0;
    scanned_ = 0;
  }
  std::string_view rest(buf_.data() + pos_, buf_.size() - pos_);
  std::size_t end = std::string_view::npos;
  // Resume where the last scan stopped (two bytes back, for a terminator split across feeds), so
  // that an event trickled in byte by byte costs linear, not quadratic, time.
  for (std::size_t i = scanned_ > 2 ? scanned_ - 2 : 0; i + 1 < rest.size(); ++i) {
    const void* lf = std::memchr(rest.data() + i, '\n', rest.size() - 1 - i);
    if (!lf) break;
    i = static_cast<std::size_t>(static_cast<const char*>(lf) - rest.data());
    if (rest[i + 1] == '\n') {
      end = i + 2;
      break;
    }
    if (rest[i + 1] == '\r' && i + 2 < rest.size() && rest[i + 2] == '\n') {
      end = i + 3;
      break;
    }
  }
  if (end == std::string_view::npos) {
    scanned_ = rest.size();  // relative to pos_, so unchanged by the erase below
    // Keep the buffer from growing without bound: drop what was already handed out.
    if (pos_ > 0) {
      buf_.erase(0, pos_);
      pos_ = 0;
      if (buf_.capacity() > kKeep && buf_.size() <= kKeep / 2) buf_.shrink_to_fit();
    }
    return {};
  }
  pos_ += end;
  scanned_ = 0;
  return rest.substr(0, end);
}

}  // namespace switchyard

#include "upstream/sse.hpp"

namespace switchyard {

std::string_view SseSplitter::next() {
  if (pos_ > 0 && pos_ == buf_.size()) {
    buf_.clear();
    pos_ = 0;
  }
  std::string_view rest(buf_.data() + pos_, buf_.size() - pos_);
  std::size_t end = std::string_view::npos;
  for (std::size_t i = 0; i + 1 < rest.size(); ++i) {
    if (rest[i] != '\n') continue;
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
    // Keep the buffer from growing without bound: drop what was already handed out.
    if (pos_ > 0) {
      buf_.erase(0, pos_);
      pos_ = 0;
    }
    return {};
  }
  pos_ += end;
  return rest.substr(0, end);
}

}  // namespace switchyard

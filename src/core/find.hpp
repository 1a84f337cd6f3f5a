// Finding a short key in JSON text without a parser: the data path's scans of answers and events.
#pragma once

#include <cstring>
#include <string_view>

namespace switchyard {

// Where `needle` first occurs in `text` at or after `from`, or npos. glibc's memmem skips ahead
// by the needle's bytes; std::string_view::find stops at every occurrence of the needle's first
// byte, which for a quoted key ("\"usage\"") is every quote of the JSON around it.
inline std::size_t find_text(std::string_view text, std::string_view needle,
                             std::size_t from = 0) {
  if (from > text.size()) return std::string_view::npos;
  const void* at = ::memmem(text.data() + from, text.size() - from, needle.data(), needle.size());
  return at ? static_cast<std::size_t>(static_cast<const char*>(at) - text.data())
            : std::string_view::npos;
}

}  // namespace switchyard

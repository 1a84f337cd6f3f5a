#include "upstream/retry_after.hpp"

#include <algorithm>
#include <charconv>
#include <ctime>
#include <limits>
#include <string>

namespace switchyard {

namespace {

bool whole_number(std::string_view s, std::uint64_t& v) {
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  return !s.empty() && ec == std::errc() && end == s.data() + s.size();
}

std::uint32_t clamp_ms(std::uint64_t ms) {
  return static_cast<std::uint32_t>(
      std::min<std::uint64_t>(ms, std::numeric_limits<std::uint32_t>::max()));
}

}  // namespace

std::uint32_t retry_after_ms(std::string_view ms_field, std::string_view retry_after,
                             std::chrono::system_clock::time_point now) {
  std::uint64_t v = 0;
  if (whole_number(ms_field, v)) return clamp_ms(v);
  if (whole_number(retry_after, v))
    return clamp_ms(v > std::numeric_limits<std::uint64_t>::max() / 1000 ? v : v * 1000);
  if (retry_after.empty() || retry_after.size() > 64) return 0;
  const std::string text(retry_after);
  for (const char* format : {"%a, %d %b %Y %H:%M:%S GMT",  // IMF-fixdate
                             "%A, %d-%b-%y %H:%M:%S GMT",  // RFC 850
                             "%a %b %d %H:%M:%S %Y"}) {    // asctime
    std::tm tm{};
    const char* end = ::strptime(text.c_str(), format, &tm);
    if (!end || *end != '\0') continue;
    // A date past what the result holds (49 days) is clamped before from_time_t, whose
    // nanoseconds would overflow for years after 2262 (or before 1677).
    const std::time_t seconds = ::timegm(&tm);
    const std::time_t now_seconds = std::chrono::system_clock::to_time_t(now);
    if (seconds < now_seconds) return 0;
    if (seconds - now_seconds > std::numeric_limits<std::uint32_t>::max() / 1000)
      return std::numeric_limits<std::uint32_t>::max();
    const auto at = std::chrono::system_clock::from_time_t(seconds);
    if (at <= now) return 0;
    return clamp_ms(static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::milliseconds>(at - now).count()));
  }
  return 0;
}

}  // namespace switchyard

// An upstream's "come back later", read from its response headers.
#pragma once

#include <chrono>
#include <cstdint>
#include <string_view>

namespace switchyard {

// How long the upstream asks to wait, in ms from `now`: its retry-after-ms header if that is a
// number, else its retry-after, as delay-seconds or as an HTTP-date (RFC 9110 §10.2.3: the
// IMF-fixdate and the two obsolete forms). 0 when neither says, or the date has passed.
std::uint32_t retry_after_ms(std::string_view ms_field, std::string_view retry_after,
                             std::chrono::system_clock::time_point now);

}  // namespace switchyard

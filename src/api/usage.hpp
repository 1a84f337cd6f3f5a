#pragma once

#include "switchyard/router.hpp"

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace switchyard {

// The most a reported token count is read as: far above any context window, and small enough
// that the sums, differences and costs of counts never overflow (an upstream's usage is its own
// to write: a rate limit charged 2^63 tokens would wrap).
inline constexpr std::uint64_t kMaxReportedTokens = std::uint64_t{1} << 32;

// Reads prompt_tokens / completion_tokens from an OpenAI response body or stream chunk by a
// scan, without a DOM: the last "usage" key at any depth. The data plane reads usage from the
// parse that checks an answer or event is JSON (is_bounded_json with usage), which falls back on
// this for counts it does not hold and texts it does not parse. Returns nullopt when the text
// has no (non-null) usage object. Counts are at most kMaxReportedTokens.
std::optional<Usage> extract_usage(std::string_view json);

// True for the usage-only chunk a stream ends with when include_usage is set ("choices": []).
bool is_usage_only_chunk(std::string_view event);

// The usage-only chunk `event` with `"cost": usd` first in its usage object, as OpenAI-compatible
// routers report a streamed answer's cost (SDKs cannot read HTTP trailers); empty when `event`
// has no usage object to put it in, or its usage already has a cost.
std::string with_usage_cost(std::string_view event, double usd);

// Dollars for the given usage at the model's configured prices.
double cost_usd(const Usage& usage, const ModelConfig& model) noexcept;

// A call's share of a self-hosted endpoint's time: usd_per_hour × duration / max_concurrent
// (the calls it serves at once); 0 when the upstream declares no usd_per_hour.
inline double endpoint_cost_usd(const UpstreamConfig& upstream,
                                std::chrono::nanoseconds duration) noexcept {
  return upstream.usd_per_hour * std::chrono::duration<double>(duration).count() / 3600 /
         upstream.max_concurrent;
}

}  // namespace switchyard

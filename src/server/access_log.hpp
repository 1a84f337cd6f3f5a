// One structured line per API request, written by a background thread (spdlog's async logger)
// so the worker only formats and enqueues. Never carries secrets, nor prompt text unless
// server.log_prompts is set.
#pragma once

#include "switchyard/router.hpp"

#include <chrono>
#include <string>
#include <string_view>

namespace switchyard {

struct AccessRecord {
  std::string_view request_id, client, route, model, upstream, error;
  std::string_view decision;  // JSON text (router/decision.hpp); empty if no stage decided
  std::string_view prompt;  // JSON text; empty unless server.log_prompts
  int status = 0;
  unsigned attempts = 0;
  Usage usage;
  double cost_usd = 0;  // every call the request made
  std::chrono::nanoseconds duration{0};
  std::chrono::nanoseconds ttft{-1};
};

// Sets up the async "access" logger (stdout); `json` picks one JSON object per line over
// key=value text. Call once at startup; without it, log_access() is a no-op.
void init_access_log(bool json);
void log_access(const AccessRecord& record);

}  // namespace switchyard

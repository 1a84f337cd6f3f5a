// One structured line per API request on stdout. The worker formats the line and copies it into
// a ring of its own (core/line_ring.hpp); a writer thread drains every ring each 20 ms, so a
// request costs no lock, no allocation and no wake-up of another thread, and a stalled stdout
// never stalls a worker: when a ring is full its lines are dropped, counted, and a warning says
// so. Never carries secrets, nor prompt text unless server.log_prompts is set.
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

// Starts the writer thread; `json` picks one JSON object per line over key=value text. Call once
// at startup; without it, log_access() is a no-op.
void init_access_log(bool json);
// Writes what the workers logged and stops the writer: call after the workers have stopped.
void stop_access_log();
void log_access(const AccessRecord& record);
// The line log_access() writes, newline included, appended to `out`.
void format_access_line(const AccessRecord& record, bool json, std::string& out);

}  // namespace switchyard

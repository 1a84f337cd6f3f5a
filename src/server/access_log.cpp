#include "server/access_log.hpp"

#include <spdlog/async.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

namespace switchyard {

namespace {

std::shared_ptr<spdlog::logger>& logger() {
  static std::shared_ptr<spdlog::logger> l;
  return l;
}
bool g_json = false;

// Whether token counts came from the upstream or were estimated by the gateway.
std::string_view usage_kind(const AccessRecord& r) {
  if (r.model.empty()) return "none";
  return r.usage.reported ? "reported" : "estimated";
}

}  // namespace

void init_access_log(bool json) {
  g_json = json;
  spdlog::init_thread_pool(16384, 1);
  // Overrun rather than block: a stalled stdout must never stall the data plane.
  auto l = spdlog::create_async_nb<spdlog::sinks::stdout_sink_mt>("access");
  l->set_pattern("%v");
  l->flush_on(spdlog::level::info);  // flushed on the logger's own thread, not the worker's
  logger() = std::move(l);
}

void log_access(const AccessRecord& r) {
  auto& l = logger();
  if (!l) return;
  const double ms = std::chrono::duration<double, std::milli>(r.duration).count();
  const double ttft = r.ttft.count() < 0
                          ? -1
                          : std::chrono::duration<double, std::milli>(r.ttft).count();
  auto or_dash = [](std::string_view s) { return s.empty() ? std::string_view("-") : s; };
  if (g_json) {
    l->info(
        R"({{"request_id":"{}","client":"{}","route":"{}","model":"{}","upstream":"{}","status":{},"attempts":{},"input_tokens":{},"output_tokens":{},"usage":"{}","cost_usd":{:.8f},"latency_ms":{:.2f},"ttft_ms":{:.2f},"error":"{}"{}{}{}{}}})",
        r.request_id, r.client, r.route, r.model, r.upstream, r.status, r.attempts, r.usage.input_tokens,
        r.usage.output_tokens, usage_kind(r), r.cost_usd, ms, ttft, r.error,
        r.decision.empty() ? "" : R"(,"decision":)", r.decision,
        r.prompt.empty() ? "" : R"(,"prompt":)", r.prompt);
  } else {
    l->info(
        "access request_id={} client={} route={} model={} upstream={} status={} attempts={} "
        "input_tokens={} output_tokens={} usage={} cost_usd={:.8f} latency_ms={:.2f} "
        "ttft_ms={:.2f} error={}{}{}{}{}",
        r.request_id, or_dash(r.client), or_dash(r.route), or_dash(r.model), or_dash(r.upstream), r.status,
        r.attempts, r.usage.input_tokens, r.usage.output_tokens, usage_kind(r), r.cost_usd, ms,
        ttft,
        or_dash(r.error), r.decision.empty() ? "" : " decision=", r.decision,
        r.prompt.empty() ? "" : " prompt=", r.prompt);
  }
}

}  // namespace switchyard

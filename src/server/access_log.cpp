#include "server/access_log.hpp"

#include "core/line_ring.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include <unistd.h>

namespace switchyard {

namespace {

std::atomic<std::uint64_t> generations{0};  // access logs made, for the threads' rings

// Each thread that logs gets a ring of its own; one writer thread drains them all to stdout every
// 20 ms. The worker formats into a thread-local buffer and copies the line into its ring: no
// lock, no allocation, no wake-up of another thread per request. (spdlog's async logger, used
// before, signalled its thread once per line: a context switch per request on a busy core.)
class AccessLog {
 public:
  explicit AccessLog(bool json)
      : json_(json), writer_([this](const std::stop_token& stop) { run(stop); }) {}
  ~AccessLog() {
    writer_.request_stop();
    writer_.join();
    drain();  // what the workers wrote since the writer's last pass
  }

  bool json() const { return json_; }

  // The calling thread's ring, registered with this log on the thread's first line to it.
  LineRing& ring() {
    thread_local std::shared_ptr<LineRing> mine;
    thread_local std::uint64_t mine_for = 0;  // the generation of the log it is registered with
    if (mine_for != generation_) {
      mine = std::make_shared<LineRing>();
      mine_for = generation_;
      const std::lock_guard lock(mutex_);
      rings_.push_back(mine);
    }
    return *mine;
  }

 private:
  void run(const std::stop_token& stop) {
    std::mutex m;
    std::condition_variable_any sleep;
    std::uint64_t reported = 0;
    while (!stop.stop_requested()) {
      std::unique_lock lock(m);
      sleep.wait_for(lock, stop, std::chrono::milliseconds(20), [] { return false; });
      lock.unlock();
      if (const std::uint64_t lost = drain(); lost > reported) {
        spdlog::warn("access log: {} lines dropped so far: stdout is not keeping up", lost);
        reported = lost;
      }
    }
  }

  // Writes every ring's lines; returns the lines dropped so far.
  std::uint64_t drain() {
    std::vector<std::shared_ptr<LineRing>> rings;
    {
      const std::lock_guard lock(mutex_);
      rings = rings_;
    }
    std::uint64_t dropped = 0;
    bool writing = true;  // after a failed write, no other ring's lines until the next pass
    for (const auto& r : rings) {
      writing = writing && r->drain(STDOUT_FILENO);
      dropped += r->dropped();
    }
    return dropped;
  }

  const std::uint64_t generation_ = ++generations;  // 1 for the first log, and so on
  bool json_;
  std::mutex mutex_;  // guards rings_: taken when a thread logs its first line, and per pass
  std::vector<std::shared_ptr<LineRing>> rings_;
  std::jthread writer_;  // last: starts after the rest is built, stops first
};

std::unique_ptr<AccessLog>& access_log() {
  static std::unique_ptr<AccessLog> l;
  return l;
}

// `s` as the inside of a JSON string: names come from the config, which may hold any character.
struct JsonText {
  std::string_view s;
};

// Whether token counts came from the upstream or were estimated by the gateway.
std::string_view usage_kind(const AccessRecord& r) {
  if (r.model.empty()) return "none";
  return r.usage.reported ? "reported" : "estimated";
}

}  // namespace
}  // namespace switchyard

template <>
struct fmt::formatter<switchyard::JsonText> : fmt::formatter<std::string_view> {
  auto format(switchyard::JsonText t, format_context& ctx) const {
    auto out = ctx.out();
    for (const char c : t.s) {
      const auto u = static_cast<unsigned char>(c);
      if (c == '"' || c == '\\') {
        *out++ = '\\';
        *out++ = c;
      } else if (u < 0x20 || u == 0x7f) {
        out = fmt::format_to(out, "\\u{:04x}", u);
      } else {
        *out++ = c;
      }
    }
    return out;
  }
};

namespace switchyard {

void init_access_log(bool json) { access_log() = std::make_unique<AccessLog>(json); }

void stop_access_log() { access_log().reset(); }

void format_access_line(const AccessRecord& r, bool json, std::string& out) {
  const double ms = std::chrono::duration<double, std::milli>(r.duration).count();
  const double ttft = r.ttft.count() < 0
                          ? -1
                          : std::chrono::duration<double, std::milli>(r.ttft).count();
  auto or_dash = [](std::string_view s) { return s.empty() ? std::string_view("-") : s; };
  if (json) {
    fmt::format_to(
        std::back_inserter(out),
        R"({{"request_id":"{}","client":"{}","route":"{}","model":"{}","upstream":"{}","status":{},"attempts":{},"input_tokens":{},"output_tokens":{},"usage":"{}","cost_usd":{:.8f},"latency_ms":{:.2f},"ttft_ms":{:.2f},"error":"{}"{}{}{}{}}})"
        "\n",
        JsonText{r.request_id}, JsonText{r.client}, JsonText{r.route}, JsonText{r.model},
        JsonText{r.upstream}, r.status, r.attempts,
        r.usage.input_tokens, r.usage.output_tokens, usage_kind(r), r.cost_usd, ms, ttft, r.error,
        r.decision.empty() ? "" : R"(,"decision":)", r.decision,
        r.prompt.empty() ? "" : R"(,"prompt":)", r.prompt);
  } else {
    fmt::format_to(
        std::back_inserter(out),
        "access request_id={} client={} route={} model={} upstream={} status={} attempts={} "
        "input_tokens={} output_tokens={} usage={} cost_usd={:.8f} latency_ms={:.2f} "
        "ttft_ms={:.2f} error={}{}{}{}{}\n",
        r.request_id, or_dash(r.client), or_dash(r.route), or_dash(r.model),
        or_dash(r.upstream), r.status, r.attempts, r.usage.input_tokens, r.usage.output_tokens,
        usage_kind(r), r.cost_usd, ms, ttft, or_dash(r.error),
        r.decision.empty() ? "" : " decision=", r.decision, r.prompt.empty() ? "" : " prompt=",
        r.prompt);
  }
}

void log_access(const AccessRecord& r) {
  auto& l = access_log();
  if (!l) return;
  thread_local std::string line;
  line.clear();
  format_access_line(r, l->json(), line);
  l->ring().push(line);
}

}  // namespace switchyard

#include "server/access_log.hpp"

#include "core/json_text.hpp"
#include "core/line_ring.hpp"

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
    // What the workers wrote since the writer's last pass; a stdout that takes nothing for a
    // second loses it rather than holding the process's exit.
    drain(1000);
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
      if (const std::uint64_t lost = drain(20); lost > reported) {
        spdlog::warn("access log: {} lines dropped so far: stdout is not keeping up", lost);
        reported = lost;
      }
    }
  }

  // Writes every ring's lines, waiting at most `wait_ms` for stdout to take each write; after
  // a write that failed or timed out, the other rings wait for the next pass. Returns the lines
  // dropped so far.
  std::uint64_t drain(int wait_ms) {
    std::vector<std::shared_ptr<LineRing>> rings;
    {
      const std::lock_guard lock(mutex_);
      rings = rings_;
    }
    std::uint64_t dropped = 0;
    bool writing = true;  // after a failed write, no other ring's lines until the next pass
    for (const auto& r : rings) {
      writing = writing && r->drain(STDOUT_FILENO, wait_ms);
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

// Whether token counts came from the upstream or were estimated by the gateway.
std::string_view usage_kind(const AccessRecord& r) {
  if (r.model.empty()) return "none";
  return r.usage.reported ? "reported" : "estimated";
}

// Appends the parts of one line to a string. By hand rather than with fmt: a format string of
// eighteen fields, parsed at run time, took 9k instructions a line (callgrind); these appends
// and std::to_chars take a fraction of that.
class LineWriter {
 public:
  explicit LineWriter(std::string& out) : out_(out) {}
  LineWriter& text(std::string_view s) {
    out_.append(s);
    return *this;
  }
  LineWriter& text_or_dash(std::string_view s) { return text(s.empty() ? "-" : s); }
  // The inside of a JSON string: names come from the config, which may hold any character.
  LineWriter& json(std::string_view s) {
    append_json_escaped(out_, s);
    return *this;
  }
  LineWriter& number(std::uint64_t v) {
    append_chars(out_, v);
    return *this;
  }
  LineWriter& number(int v) {
    append_chars(out_, v);
    return *this;
  }
  LineWriter& fixed(double v, int decimals) {
    append_fixed(out_, v, decimals);
    return *this;
  }

 private:
  std::string& out_;
};

}  // namespace
}  // namespace switchyard

namespace switchyard {

void init_access_log(bool json) { access_log() = std::make_unique<AccessLog>(json); }

void stop_access_log() { access_log().reset(); }

void format_access_line(const AccessRecord& r, bool json, std::string& out) {
  const double ms = std::chrono::duration<double, std::milli>(r.duration).count();
  const double ttft = r.ttft.count() < 0
                          ? -1
                          : std::chrono::duration<double, std::milli>(r.ttft).count();
  LineWriter w(out);
  if (json) {
    w.text(R"({"request_id":")").json(r.request_id).text(R"(","client":")").json(r.client);
    w.text(R"(","route":")").json(r.route).text(R"(","model":")").json(r.model);
    w.text(R"(","upstream":")").json(r.upstream).text(R"(","status":)").number(r.status);
    w.text(R"(,"attempts":)").number(std::uint64_t{r.attempts});
    w.text(R"(,"input_tokens":)").number(r.usage.input_tokens);
    w.text(R"(,"output_tokens":)").number(r.usage.output_tokens);
    w.text(R"(,"usage":")").text(usage_kind(r)).text(R"(","cost_usd":)").fixed(r.cost_usd, 8);
    w.text(R"(,"latency_ms":)").fixed(ms, 2).text(R"(,"ttft_ms":)").fixed(ttft, 2);
    w.text(R"(,"error":")").text(r.error).text("\"");
    if (!r.decision.empty()) w.text(R"(,"decision":)").text(r.decision);
    if (!r.prompt.empty()) w.text(R"(,"prompt":)").text(r.prompt);
    w.text("}\n");
  } else {
    w.text("access request_id=").text(r.request_id).text(" client=").text_or_dash(r.client);
    w.text(" route=").text_or_dash(r.route).text(" model=").text_or_dash(r.model);
    w.text(" upstream=").text_or_dash(r.upstream).text(" status=").number(r.status);
    w.text(" attempts=").number(std::uint64_t{r.attempts});
    w.text(" input_tokens=").number(r.usage.input_tokens);
    w.text(" output_tokens=").number(r.usage.output_tokens);
    w.text(" usage=").text(usage_kind(r)).text(" cost_usd=").fixed(r.cost_usd, 8);
    w.text(" latency_ms=").fixed(ms, 2).text(" ttft_ms=").fixed(ttft, 2);
    w.text(" error=").text_or_dash(r.error);
    if (!r.decision.empty()) w.text(" decision=").text(r.decision);
    if (!r.prompt.empty()) w.text(" prompt=").text(r.prompt);
    w.text("\n");
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

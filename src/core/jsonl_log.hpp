// An append-only file of JSON lines, rotated by size, written by a thread of its own: the
// decision log (server/decision_log.hpp).
#pragma once

#include "switchyard/error.hpp"

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace spdlog {
class logger;
namespace details {
class thread_pool;
}
}  // namespace spdlog

namespace switchyard {

// Lines go to `path` until it reaches `max_bytes`; then the rotated files (for d.jsonl: d.1.jsonl,
// the newest, … d.<max_files>.jsonl) are shifted, the oldest dropped, and a new `path` started (spdlog's rotating file sink, behind an async logger on a thread
// pool of its own). write() only enqueues, so any worker may call it at once; when the queue of
// 8192 lines is full the oldest waiting line is dropped and counted, and the caller never waits.
// Destroying the log writes what is queued, then stops its thread.
class JsonlLog {
 public:
  // Opens (creates, appends to) `path`; an error names the path when it cannot be opened.
  static Result<std::unique_ptr<JsonlLog>> open(const std::string& path, std::uint64_t max_bytes,
                                                std::uint32_t max_files);
  ~JsonlLog();

  void write(std::string_view line);  // one JSON object, without the newline
  // Waits until the queue is empty and flushes the file: lines written before the call are in
  // the file, but for one the log's thread may have taken from the queue and not yet begun.
  void flush();
  std::uint64_t dropped() const;       // lines lost to a full queue

 private:
  JsonlLog() = default;
  std::shared_ptr<spdlog::details::thread_pool> pool_;
  std::shared_ptr<spdlog::logger> logger_;
};

}  // namespace switchyard

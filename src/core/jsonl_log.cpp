#include "core/jsonl_log.hpp"

#include <spdlog/async.h>
#include <spdlog/async_logger.h>
#include <spdlog/sinks/rotating_file_sink.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <thread>

namespace switchyard {

Result<std::unique_ptr<JsonlLog>> JsonlLog::open(const std::string& path,
                                                 std::uint64_t max_bytes,
                                                 std::uint32_t max_files) {
  std::unique_ptr<JsonlLog> log(new JsonlLog());
  try {
    auto sink = std::make_shared<spdlog::sinks::rotating_file_sink_mt>(
        path, static_cast<std::size_t>(max_bytes), static_cast<std::size_t>(max_files));
    log->pool_ = std::make_shared<spdlog::details::thread_pool>(8192, 1);
    log->logger_ = std::make_shared<spdlog::async_logger>(
        "decisions", std::move(sink), log->pool_, spdlog::async_overflow_policy::overrun_oldest);
  } catch (const spdlog::spdlog_ex& e) {
    return make_error(Reason::internal, "cannot open \"" + path + "\": " + e.what());
  }
  log->logger_->set_pattern("%v");
  log->logger_->flush_on(spdlog::level::info);  // on the log's thread, not the caller's
  return log;
}

JsonlLog::~JsonlLog() {
  // The pool first: its destructor writes what is queued, then joins its thread, so the thread's
  // last use of the file happens before the sink is destroyed, wherever that is.
  pool_.reset();
  logger_.reset();
}

void JsonlLog::write(std::string_view line) { logger_->info("{}", line); }

void JsonlLog::flush() {
  while (pool_->queue_size() > 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  // The line the log's thread may still be writing holds the sink's lock; flushing waits for it.
  for (auto& sink : logger_->sinks()) sink->flush();
}

std::uint64_t JsonlLog::dropped() const { return pool_->overrun_counter(); }

}  // namespace switchyard

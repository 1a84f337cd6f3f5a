// A single-producer, single-consumer ring of text lines: one thread (a worker) pushes whole
// lines, another (a log writer) drains them to a file descriptor. Lock-free and wait-free for the
// producer, which never blocks and never allocates: a line that does not fit is dropped and
// counted. The consumer sees only whole lines, in order. The ring is owned by whoever registered
// it (shared between its two threads); it holds `capacity` bytes, a power of two.
#pragma once

#include <atomic>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string_view>

#include <cerrno>
#include <unistd.h>

namespace switchyard {

class LineRing {
 public:
  explicit LineRing(std::size_t capacity = std::size_t{1} << 20)
      : mask_(capacity - 1), data_(std::make_unique<char[]>(capacity)) {}

  // Producer: appends `line` (its newline included) whole, or drops it when the ring is full.
  bool push(std::string_view line) {
    const std::uint64_t head = head_.load(std::memory_order_relaxed);
    const std::uint64_t tail = tail_.load(std::memory_order_acquire);
    if (line.size() > mask_ + 1 - (head - tail)) {
      dropped_.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
    const std::size_t at = head & mask_;
    const std::size_t first = std::min(line.size(), mask_ + 1 - at);
    std::memcpy(&data_[at], line.data(), first);
    std::memcpy(&data_[0], line.data() + first, line.size() - first);
    head_.store(head + line.size(), std::memory_order_release);
    return true;
  }

  // Consumer: writes every line pushed so far to `fd` and frees their room. Returns the bytes
  // written; stops early (keeping the rest) when the descriptor fails.
  std::size_t drain(int fd) {
    const std::uint64_t tail = tail_.load(std::memory_order_relaxed);
    const std::uint64_t head = head_.load(std::memory_order_acquire);
    std::uint64_t done = tail;
    while (done < head) {
      const std::size_t at = done & mask_;
      const std::size_t n = std::min<std::uint64_t>(head - done, mask_ + 1 - at);
      const ssize_t w = ::write(fd, &data_[at], n);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) break;
      done += static_cast<std::uint64_t>(w);
      tail_.store(done, std::memory_order_release);
    }
    return done - tail;
  }

  std::uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }

 private:
  const std::size_t mask_;
  std::unique_ptr<char[]> data_;
  alignas(64) std::atomic<std::uint64_t> head_{0};  // bytes ever pushed
  alignas(64) std::atomic<std::uint64_t> tail_{0};  // bytes ever drained
  std::atomic<std::uint64_t> dropped_{0};
};

}  // namespace switchyard

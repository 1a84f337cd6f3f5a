// A single-producer, single-consumer ring of text lines: one thread (a worker) pushes whole
// lines, another (a log writer) drains them to a file descriptor. Lock-free and wait-free for the
// producer, which never blocks and never allocates: a line that does not fit is dropped and
// counted. The consumer sees only whole lines, in order. The ring is owned by whoever registered
// it (shared between its two threads); it holds `capacity` bytes, a power of two.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string_view>

#include <cerrno>
#include <poll.h>
#include <sys/uio.h>
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

  // Consumer: writes every line pushed so far to `fd` and frees their room, in writes of whole
  // lines of at most 4096 bytes (PIPE_BUF: on a pipe no other writer's bytes land inside them;
  // a longer line goes in pieces). Spends at most about `wait_ms` in all waiting for `fd` to
  // take the writes, so that a reader that stopped or slowed (a stalled log collector) cannot
  // hold the consumer, nor the process's shutdown, for longer. False when the descriptor failed,
  // was not ready in time or took part of a write: the rest stays for the next call, and the
  // caller should write nothing else to `fd` meanwhile.
  bool drain(int fd, int wait_ms = 0) {
    constexpr std::uint64_t kAtomicWrite = 4096;
    const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(wait_ms);
    const std::uint64_t head = head_.load(std::memory_order_acquire);
    std::uint64_t done = tail_.load(std::memory_order_relaxed);
    while (done < head) {
      const auto left = std::chrono::ceil<std::chrono::milliseconds>(
          until - std::chrono::steady_clock::now());
      pollfd ready{fd, POLLOUT, 0};
      const int r = ::poll(&ready, 1, static_cast<int>(std::max<std::int64_t>(left.count(), 0)));
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0 || !(ready.revents & POLLOUT)) return false;
      std::uint64_t n = std::min(head - done, kAtomicWrite);
      if (n < head - done)  // end at the last newline that fits, if any
        for (std::uint64_t i = n; i > 0; --i)
          if (data_[(done + i - 1) & mask_] == '\n') {
            n = i;
            break;
          }
      const std::size_t at = done & mask_;
      const std::size_t first = std::min<std::uint64_t>(n, mask_ + 1 - at);
      iovec parts[2] = {{&data_[at], first}, {&data_[0], n - first}};
      const ssize_t w = ::writev(fd, parts, n > first ? 2 : 1);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) return false;
      done += static_cast<std::uint64_t>(w);
      tail_.store(done, std::memory_order_release);
      if (static_cast<std::uint64_t>(w) < n) return false;
    }
    return true;
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

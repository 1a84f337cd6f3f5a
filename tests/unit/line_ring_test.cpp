// The access log's ring (core/line_ring.hpp): whole lines in order across the wrap, a line that
// does not fit dropped and counted, and a producer and a consumer at once (run under TSan in CI).
#include "core/line_ring.hpp"
#include "support/fixture.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>

#include <atomic>

#include <chrono>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>

namespace switchyard {
namespace {

std::string read_all(const std::string& path) {
  std::ifstream in(path);
  return {std::istreambuf_iterator<char>(in), {}};
}

TEST(LineRing, KeepsWholeLinesInOrderAcrossTheWrapAndDropsWhatDoesNotFit) {
  test::TempDir dir;
  const std::string path = (dir.path() / "out").string();
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  ASSERT_GE(fd, 0);
  LineRing ring(32);
  std::string expected;
  for (int round = 0; round < 5; ++round) {  // 5 × 20 bytes through 32: every line wraps once
    const std::string a = "round " + std::to_string(round) + " a\n";  // 10 bytes
    const std::string b = "round " + std::to_string(round) + " b\n";
    EXPECT_TRUE(ring.push(a));
    EXPECT_TRUE(ring.push(b));
    EXPECT_FALSE(ring.push(std::string(13, 'x')));  // 20 + 13 > 32: dropped, not cut
    EXPECT_TRUE(ring.drain(fd));
    expected += a + b;
  }
  EXPECT_EQ(ring.dropped(), 5u);
  EXPECT_TRUE(ring.drain(fd));  // nothing new
  ::close(fd);
  EXPECT_EQ(read_all(path), expected);
}

TEST(LineRing, AProducerAndAConsumerAtOnceLoseNoLineAndSplitNone) {
  test::TempDir dir;
  const std::string path = (dir.path() / "out").string();
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  ASSERT_GE(fd, 0);
  LineRing ring(1024);
  constexpr int kLines = 20000;
  int pushed = 0;
  std::atomic<bool> done{false};
  std::thread consumer([&] {
    while (!done.load(std::memory_order_acquire)) EXPECT_TRUE(ring.drain(fd));
    EXPECT_TRUE(ring.drain(fd));
  });
  for (int i = 0; i < kLines; ++i) pushed += ring.push("line " + std::to_string(i) + "\n");
  done.store(true, std::memory_order_release);
  consumer.join();
  ::close(fd);
  EXPECT_EQ(static_cast<std::uint64_t>(pushed) + ring.dropped(), std::uint64_t{kLines});
  // Every line that went in came out whole, in order.
  std::ifstream in(path);
  std::string line;
  int seen = 0, last = -1;
  while (std::getline(in, line)) {
    ASSERT_EQ(line.rfind("line ", 0), 0u) << line;
    const int n = std::stoi(line.substr(5));
    EXPECT_GT(n, last);
    last = n;
    ++seen;
  }
  EXPECT_EQ(seen, pushed);
}

TEST(LineRing, ADescriptorThatFailsKeepsTheLinesForLater) {
  LineRing ring(64);
  EXPECT_TRUE(ring.push("kept\n"));
  EXPECT_FALSE(ring.drain(-1));  // EBADF
  EXPECT_FALSE(ring.push(std::string(60, 'x')));  // still held: no room
  test::TempDir dir;
  const std::string path = (dir.path() / "out").string();
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  ASSERT_GE(fd, 0);
  EXPECT_TRUE(ring.drain(fd));
  ::close(fd);
  EXPECT_EQ(read_all(path), "kept\n");
}

TEST(LineRing, AReaderThatStoppedReadingHoldsTheWriterNoLongerThanItsWait) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  ASSERT_EQ(::fcntl(fds[1], F_SETFL, ::fcntl(fds[1], F_GETFL) | O_NONBLOCK), 0);
  const std::string page(4096, 'x');
  while (::write(fds[1], page.data(), page.size()) > 0) {
  }  // full: nobody reads
  ASSERT_EQ(::fcntl(fds[1], F_SETFL, ::fcntl(fds[1], F_GETFL) & ~O_NONBLOCK), 0);
  LineRing ring(1 << 16);
  EXPECT_TRUE(ring.push("waits\n"));
  const auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(ring.drain(fds[1], 50));  // a blocking writev would never return
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  std::string sink(1 << 20, '\0');
  ASSERT_GT(::read(fds[0], sink.data(), sink.size()), 0);  // the reader comes back
  EXPECT_TRUE(ring.drain(fds[1], 50));
  ::close(fds[0]);
  ::close(fds[1]);
}

}  // namespace
}  // namespace switchyard

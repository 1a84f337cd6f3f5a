// The decision log's file: lines written from any thread land whole, and the file rotates by size
// keeping max_files old ones.
#include "core/jsonl_log.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

namespace switchyard {
namespace {

namespace fs = std::filesystem;

TEST(JsonlLog, RotatesBySizeAndKeepsWholeLines) {
  const fs::path dir = fs::temp_directory_path() / ("switchyard-jsonl-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string path = (dir / "d.jsonl").string();
  {
    auto log = JsonlLog::open(path, 4096, 2);
    ASSERT_TRUE(log) << log.error().message;
    std::vector<std::thread> writers;
    writers.reserve(2);
    for (int w = 0; w < 2; ++w)
      writers.emplace_back([&, w] {
        for (int i = 0; i < 100; ++i)
          (*log)->write(R"({"writer":)" + std::to_string(w) + R"(,"i":)" + std::to_string(i) +
                        R"(,"pad":")" + std::string(60, 'x') + "\"}");
      });
    for (auto& t : writers) t.join();
    (*log)->flush();
    EXPECT_EQ((*log)->dropped(), 0u);
  }  // closing writes the rest
  // 200 lines of about 90 bytes: 18 KB over 4 KB files, so two rotations at least, and only
  // two old files kept.
  const std::string first = (dir / "d.1.jsonl").string(), second = (dir / "d.2.jsonl").string();
  EXPECT_TRUE(fs::exists(first));
  EXPECT_TRUE(fs::exists(second));
  EXPECT_FALSE(fs::exists(dir / "d.3.jsonl"));
  for (const std::string& f : {path, first, second}) {
    EXPECT_LE(fs::file_size(f), 4096u) << f;
    std::ifstream in(f);
    int lines = 0;
    for (std::string line; std::getline(in, line); ++lines)
      EXPECT_TRUE(line.starts_with(R"({"writer":)") && line.ends_with(R"("})")) << line;
    EXPECT_GT(lines, 0) << f;
  }
  fs::remove_all(dir);
}

}  // namespace
}  // namespace switchyard

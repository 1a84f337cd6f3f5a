// What the fuzz targets share: check(), which stops the fuzzer on a broken promise (libFuzzer
// saves the input that broke it), and write_input(), for a target whose code under test reads a
// path rather than bytes. Header-only; each target includes it once.
#pragma once

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace fuzz {

inline void check(bool ok) {
  if (!ok) __builtin_trap();
}

// Writes the input to this process's own temporary file, "/tmp/fuzz.<pid><suffix>", the same
// path for every input, removed when the process exits, and returns that path.
inline const std::string& write_input(std::string_view suffix, const std::uint8_t* data,
                                      std::size_t size) {
  static std::string path;
  if (path.empty()) {
    path = "/tmp/fuzz." + std::to_string(getpid()) + std::string(suffix);
    std::atexit([] { std::remove(path.c_str()); });
  }
  std::FILE* f = std::fopen(path.c_str(), "wb");
  check(f != nullptr);
  check(std::fwrite(data, 1, size, f) == size);
  check(std::fclose(f) == 0);
  return path;
}

}  // namespace fuzz

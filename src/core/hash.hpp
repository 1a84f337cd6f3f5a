// The one non-cryptographic string hash the gateway keys in-memory tables and splits on.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string_view>

namespace switchyard {

// 64-bit FNV-1a over `parts`, with the byte `separator` between each two so that ("ab", "c")
// and ("a", "bc") differ. Stable across runs and platforms: a session's conversation, a
// feedback (model, label) slot and an A/B arm are all placed by it. May be 0.
inline std::uint64_t fnv1a(std::initializer_list<std::string_view> parts,
                           unsigned char separator) noexcept {
  std::uint64_t h = 1469598103934665603ull;
  bool first = true;
  for (std::string_view s : parts) {
    if (!first) h = (h ^ separator) * 1099511628211ull;
    first = false;
    for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  }
  return h;
}

}  // namespace switchyard

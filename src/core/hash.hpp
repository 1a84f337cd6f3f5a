// The non-cryptographic string hashes the gateway keys in-memory tables and splits on.
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>
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

// A 64-bit hash of `parts` eight bytes at a step, for long texts (a conversation's first
// messages), where fnv1a's byte at a time took 6 instructions per byte. Each part's length is
// mixed in after it, so that ("ab", "c") and ("a", "bc") differ. Stable across runs and
// platforms: the bytes are read little-endian on any machine. May be 0.
inline std::uint64_t hash_words(std::initializer_list<std::string_view> parts) noexcept {
  std::uint64_t h = 1469598103934665603ull;
  const auto mix = [&h](std::uint64_t word) {
    h = (h ^ word) * 0x9E3779B97F4A7C15ull;
    h ^= h >> 29;
  };
  for (std::string_view s : parts) {
    std::size_t i = 0;
    for (; i + 8 <= s.size(); i += 8) {
      std::uint64_t word;
      std::memcpy(&word, s.data() + i, 8);
      if constexpr (std::endian::native == std::endian::big) word = __builtin_bswap64(word);
      mix(word);
    }
    std::uint64_t tail = 0;
    for (std::size_t k = 0; i + k < s.size(); ++k)
      tail |= std::uint64_t{static_cast<unsigned char>(s[i + k])} << (8 * k);
    mix(tail);
    mix(s.size());
  }
  return h;
}

}  // namespace switchyard

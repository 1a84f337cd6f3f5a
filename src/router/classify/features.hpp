// Cheap, deterministic features of a request's prompt (PromptInfo), shared by the rule
// classifier and the learned router. Computed per request in one pass over the text, without
// allocation; nothing here depends on the model asked or on anything but the request.
#pragma once

#include "switchyard/router.hpp"

#include <algorithm>
#include <cstdint>
#include <string_view>
#include <vector>

namespace switchyard {

struct PromptFeatures {
  std::uint32_t tokens = 0;      // estimated input tokens of the whole conversation (bytes / 4)
  std::uint32_t prompt_tokens = 0;  // of the last user message alone
  std::uint32_t messages = 0;
  std::uint32_t user_turns = 0;
  bool code = false;  // a code fence, or lines that read as code
  bool math = false;  // LaTeX, or arithmetic between numbers
  bool json_output = false;
  bool tools = false;
  bool images = false;
};

PromptFeatures prompt_features(const PromptInfo& prompt);

// The token estimate PromptFeatures uses: bytes / 4, capped. For a stage that needs only this,
// without prompt_features()'s scans of the text.
inline std::uint32_t estimated_tokens(std::uint64_t bytes) {
  return static_cast<std::uint32_t>(std::min<std::uint64_t>(bytes / 4, UINT32_MAX));
}

// The learned router's input: a sparse vector of the hashed words of the prompt (lower-cased
// ASCII letters and digits; other bytes split words, except UTF-8 ones, which stay in them) and
// of the system prompt (hashed apart); with `char_ngrams` = n > 0, the prompt's hashed n-byte
// windows too (lower-cased, each run of whitespace one space), which keep what words drop:
// punctuation, notation, layout, parts of words. Then kDenseFeatures structure features at fixed
// indices past the hashed ones: a bias, length, turns and the rule features. A repeated word or
// n-gram appears once per occurrence; the words weigh 1/sqrt(their count) each, and so do the
// n-grams, so that long and short prompts are on one scale. Indices are below
// (1 << hash_bits) + kDenseFeatures. `out` is cleared and reused, so a caller that keeps it
// allocates nothing once it has grown. (Word pairs were tried: no better in cross-validation on
// either dataset, and twice the work. So were the prompt's last 300, 600 or 1,200 bytes hashed
// again apart, to weigh a few-shot prompt's question against its examples: RouterBench's cost
// to 95% of GPT-4's quality rose from 21.5% to 27-30%.)
struct Feature {
  std::uint32_t index = 0;
  float value = 0;
};
struct FeatureSpace {
  std::uint32_t hash_bits = 14;   // 2^hash_bits buckets, shared by words and n-grams
  std::uint32_t char_ngrams = 0;  // n, from 1 to 8; 0 for no character n-grams
};
inline constexpr std::uint32_t kDenseFeatures = 12;
void hashed_features(const PromptInfo& prompt, const PromptFeatures& features,
                     FeatureSpace space, std::vector<Feature>& out);

// Appends the hashed words of `text` (as hashed_features reads a prompt's, with another `seed`
// so that they fall elsewhere), each weighing 1/sqrt(their count). For text other than the
// prompt, such as an answer a learned gate reads.
void append_hashed_words(std::string_view text, std::uint32_t seed, std::uint32_t hash_bits,
                         std::vector<Feature>& out);

// A code fence (```), or at least two lines that read as code: ending in ';', '{' or '}', or
// starting with a keyword such as def, class, import, #include, return, function, public.
bool looks_like_code(std::string_view text);

// LaTeX (\frac, \sqrt, \int, \sum, \cdot, \times) or at least two arithmetic operations on
// numbers (3 + 4, 2*x = 10, 5^2; '-' and '/' only with spaces around them, not in dates).
bool looks_like_math(std::string_view text);

}  // namespace switchyard

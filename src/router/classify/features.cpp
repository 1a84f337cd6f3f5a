#include "router/classify/features.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>

namespace switchyard {

namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Whether one line (without its '\n') reads as code.
bool code_line(std::string_view line) {
  while (!line.empty() && is_space(line.front())) line.remove_prefix(1);
  while (!line.empty() && is_space(line.back())) line.remove_suffix(1);
  if (line.size() < 2) return false;
  const char last = line.back();
  if (last == ';' || last == '{' || last == '}') return true;
  static constexpr std::array<std::string_view, 14> kStarts = {
      "def ",    "class ",  "import ",   "from ",  "#include", "return ", "function ",
      "public ", "private ", "const ",   "let ",   "var ",     "fn ",     "SELECT "};
  return std::any_of(kStarts.begin(), kStarts.end(),
                     // The first byte first: most lines start with no keyword's.
                     [&](std::string_view s) {
                       return line.front() == s.front() && line.starts_with(s);
                     }) &&
         line.find_first_of("(=:{") != std::string_view::npos;
}

}  // namespace

bool looks_like_code(std::string_view text) {
  if (text.find("```") != std::string_view::npos) return true;
  int lines = 0;
  while (!text.empty()) {
    auto nl = text.find('\n');
    if (code_line(text.substr(0, nl)) && ++lines >= 2) return true;
    if (nl == std::string_view::npos) break;
    text.remove_prefix(nl + 1);
  }
  return false;
}

bool looks_like_math(std::string_view text) {
  // Each backslash is looked at once, for any of the commands.
  static constexpr std::array<std::string_view, 6> kLatex = {"frac", "sqrt", "int",
                                                             "sum",  "cdot", "times"};
  for (auto at = text.find('\\'); at != std::string_view::npos; at = text.find('\\', at + 1)) {
    const auto after = text.substr(at + 1);
    if (std::any_of(kLatex.begin(), kLatex.end(),
                    [&](std::string_view s) { return after.starts_with(s); }))
      return true;
  }
  // An operator between two operands, a number on at least one side: 3 + 4, 3x + 4, x = 5.
  // A variable is one lower-case letter, alone or after a number. '-' and '/' count only with
  // spaces around them, so that dates (2024-01-31, 1/2/2024) and ranges do not.
  auto letter = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); };
  auto variable = [&](std::size_t k) {  // text[k] is a lone lower-case letter
    return text[k] >= 'a' && text[k] <= 'z' && (k == 0 || !letter(text[k - 1])) &&
           (k + 1 == text.size() || !letter(text[k + 1]));
  };
  // Operators are rare in prose: each is found with memchr, which skips the text between them
  // many bytes a step, and two that qualify, in any order, decide.
  if (text.size() < 3) return false;
  int ops = 0;
  const char* const first = text.data() + 1;          // an operator needs a byte before it
  const char* const last = text.data() + text.size() - 1;  // ... and one after
  for (const char op : {'+', '*', '^', '=', '-', '/'}) {
    for (const char* at = first; at < last; ++at) {
      at = static_cast<const char*>(std::memchr(at, op, static_cast<std::size_t>(last - at)));
      if (!at) break;
      const auto j = static_cast<std::size_t>(at - text.data());
      std::size_t l = j, r = j + 1;
      while (l > 0 && is_space(text[l - 1])) --l;
      while (r < text.size() && is_space(text[r])) ++r;
      if (l == 0 || r >= text.size()) continue;
      --l;
      if ((op == '-' || op == '/') && (l + 1 == j || r == j + 1)) continue;
      const bool ld = is_digit(text[l]), rd = is_digit(text[r]);
      if ((ld || rd) && (ld || variable(l)) && (rd || variable(r)) && ++ops >= 2) return true;
    }
  }
  return false;
}

PromptFeatures prompt_features(const PromptInfo& p) {
  PromptFeatures f;
  f.tokens = estimated_tokens(p.chars);
  f.prompt_tokens = estimated_tokens(p.text.size());
  f.messages = p.messages;
  f.user_turns = p.user_turns;
  f.code = looks_like_code(p.text);
  f.math = looks_like_math(p.text);
  f.json_output = p.json_output;
  f.tools = p.tools;
  f.images = p.images;
  return f;
}

namespace {

constexpr std::uint32_t kFnvOffset = 2166136261u;
constexpr std::uint32_t kFnvPrime = 16777619u;

// Each byte lower-cased if it belongs in a word (ASCII letters and digits, and every byte of
// UTF-8's multi-byte characters), 0 if it splits words: one table lookup and one branch per
// byte, where the tests by range took three branches, which mispredicted at every word's ends.
constexpr std::array<unsigned char, 256> kWordBytes = [] {
  std::array<unsigned char, 256> t{};
  for (unsigned c = 0; c < 256; ++c) {
    if (c >= 'A' && c <= 'Z') t[c] = static_cast<unsigned char>(c - 'A' + 'a');
    else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c >= 0x80)
      t[c] = static_cast<unsigned char>(c);
  }
  return t;
}();

// Hashes each word of `text` (FNV-1a, seeded by `seed`, then mixed so that the low bits, which
// index the weights, depend on every byte).
template <class Emit>
void words(std::string_view text, std::uint32_t seed, Emit&& emit) {
  std::uint32_t h = kFnvOffset ^ seed;
  bool in_word = false;
  for (unsigned char raw : text) {
    if (const unsigned char c = kWordBytes[raw]) {
      h = (h ^ c) * kFnvPrime;
      in_word = true;
    } else if (in_word) {
      emit(h ^ (h >> 15));
      h = kFnvOffset ^ seed;
      in_word = false;
    }
  }
  if (in_word) emit(h ^ (h >> 15));
}

// Hashes each n-byte window of `text`, lower-cased, with each run of whitespace as one space
// (none at the start). The window is kept in one integer, so each byte costs a shift and a
// multiply.
template <class Emit>
void char_ngrams(std::string_view text, std::uint32_t n, Emit&& emit) {
  const std::uint64_t keep = n >= 8 ? ~std::uint64_t{0} : (std::uint64_t{1} << (8 * n)) - 1;
  std::uint64_t window = 0;
  std::uint32_t filled = 0;
  bool after_space = true;
  for (unsigned char c : text) {
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
      if (after_space) continue;
      c = ' ';
      after_space = true;
    } else {
      after_space = false;
      if (c >= 'A' && c <= 'Z') c = static_cast<unsigned char>(c - 'A' + 'a');
    }
    window = ((window << 8) | c) & keep;
    if (++filled < n) continue;
    const std::uint64_t h = (window ^ 0x5bd1e995u) * 0x9e3779b97f4a7c15u;  // Fibonacci hashing
    emit(static_cast<std::uint32_t>(h >> 32));
  }
}

// Gives the entries of out from `from` on the value 1/sqrt(their count).
void normalise(std::vector<Feature>& out, std::size_t from) {
  if (out.size() == from) return;
  const auto scale = static_cast<float>(1 / std::sqrt(static_cast<double>(out.size() - from)));
  for (auto x = out.begin() + static_cast<std::ptrdiff_t>(from); x != out.end(); ++x)
    x->value = scale;
}

}  // namespace

void hashed_features(const PromptInfo& prompt, const PromptFeatures& f, FeatureSpace space,
                     std::vector<Feature>& out) {
  out.clear();
  const std::uint32_t mask = (1u << space.hash_bits) - 1;
  auto emit = [&](std::uint32_t h) { out.push_back({h & mask, 1.0f}); };
  words(prompt.text, 0, emit);
  words(prompt.system, 0x9e3779b9u, emit);
  normalise(out, 0);
  if (space.char_ngrams > 0) {
    const std::size_t from = out.size();
    char_ngrams(prompt.text, space.char_ngrams, emit);
    normalise(out, from);
  }
  const std::uint32_t base = mask + 1;
  auto dense = [&](std::uint32_t i, double v) {
    out.push_back({base + i, static_cast<float>(v)});
  };
  dense(0, 1);  // bias
  dense(1, std::log1p(f.tokens) / 8);
  dense(2, std::log1p(f.prompt_tokens) / 8);
  dense(3, std::log1p(f.messages) / 3);
  dense(4, f.user_turns > 1);
  dense(5, f.code);
  dense(6, f.math);
  dense(7, f.json_output);
  dense(8, f.tools);
  dense(9, f.images);
  dense(10, !prompt.system.empty());
  dense(11, prompt.text.find('?') != std::string::npos);
}

void append_hashed_words(std::string_view text, std::uint32_t seed, std::uint32_t hash_bits,
                         std::vector<Feature>& out) {
  const std::uint32_t mask = (1u << hash_bits) - 1;
  const std::size_t from = out.size();
  words(text, seed, [&](std::uint32_t h) { out.push_back({h & mask, 1.0f}); });
  normalise(out, from);
}

}  // namespace switchyard

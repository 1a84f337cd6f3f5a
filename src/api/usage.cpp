#include "api/usage.hpp"

#include "core/find.hpp"
#include "core/json_text.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>

namespace switchyard {

namespace {

// Finds `"key"` as an object key (not inside a string value, where quotes are escaped) at or
// after `from`, and parses the integer after its colon.
std::optional<std::uint64_t> number_after(std::string_view s, std::string_view key,
                                          std::size_t from) {
  for (auto pos = find_text(s, key, from); pos != std::string_view::npos;
       pos = find_text(s, key, pos + 1)) {
    if (pos > 0 && s[pos - 1] == '\\') continue;
    std::size_t i = pos + key.size();
    while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
    if (i >= s.size() || s[i] != ':') continue;
    ++i;
    while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
    std::uint64_t v = 0;
    auto [p, ec] = std::from_chars(s.data() + i, s.data() + s.size(), v);
    if (ec == std::errc()) return v;
  }
  return std::nullopt;
}

}  // namespace

std::optional<Usage> extract_usage(std::string_view s) {
  // The usage object comes last in OpenAI bodies; search from the end so that a long content
  // string is scanned once.
  auto at = s.rfind("\"usage\"");
  while (at != std::string_view::npos && at > 0 && s[at - 1] == '\\')
    at = s.rfind("\"usage\"", at - 1);
  if (at == std::string_view::npos) return std::nullopt;
  auto input = number_after(s, "\"prompt_tokens\"", at);
  if (!input) return std::nullopt;  // "usage": null
  Usage u;
  u.input_tokens = std::min(*input, kMaxReportedTokens);
  u.output_tokens =
      std::min(number_after(s, "\"completion_tokens\"", at).value_or(0), kMaxReportedTokens);
  u.reported = true;
  return u;
}

bool is_usage_only_chunk(std::string_view e) {
  auto at = find_text(e, "\"choices\"");
  if (at == std::string_view::npos) return false;
  std::size_t i = at + 9;
  auto skip = [&] {
    while (i < e.size() && std::isspace(static_cast<unsigned char>(e[i]))) ++i;
  };
  skip();
  if (i >= e.size() || e[i++] != ':') return false;
  skip();
  if (i >= e.size() || e[i++] != '[') return false;
  skip();
  return i < e.size() && e[i] == ']';
}

std::string with_usage_cost(std::string_view e, double usd) {
  const auto at = find_text(e, "\"usage\"");
  // An upstream that reports its own cost (another router) is left to say it.
  if (at == std::string_view::npos || find_text(e, "\"cost\"", at) != std::string_view::npos)
    return {};
  std::size_t i = at + 7;
  auto skip = [&] {
    while (i < e.size() && std::isspace(static_cast<unsigned char>(e[i]))) ++i;
  };
  skip();
  if (i >= e.size() || e[i++] != ':') return {};
  skip();
  if (i >= e.size() || e[i++] != '{') return {};
  const std::size_t open = i;
  skip();
  if (i >= e.size()) return {};
  std::string out;
  out.reserve(e.size() + 32);
  out.append(e.substr(0, open));
  out.append("\"cost\":");
  append_fixed(out, usd, 8);
  if (e[i] != '}') out.push_back(',');
  out.append(e.substr(open));
  return out;
}

double cost_usd(const Usage& u, const ModelConfig& m) noexcept {
  return (static_cast<double>(u.input_tokens) * m.price_usd_per_mtok.input +
          static_cast<double>(u.output_tokens) * m.price_usd_per_mtok.output) /
         1e6;
}

}  // namespace switchyard

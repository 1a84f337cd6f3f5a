#include "config/yaml_map.hpp"

#include <cstdlib>
#include <set>

namespace switchyard {

namespace {

constexpr int kMaxDepth = 64;
constexpr std::size_t kMaxNodes = 100'000;
constexpr std::size_t kMaxBytes = 16 * 1024 * 1024;

bool is_env_name(const std::string& s) {
  auto alpha = [](char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_'; };
  if (s.empty() || !alpha(s[0])) return false;
  for (char c : s)
    if (!alpha(c) && !(c >= '0' && c <= '9')) return false;
  return true;
}

// An alias is the anchored node itself, shared, so a small file can stand for an exponential (or,
// through a self-reference, endless) tree. Counting every visit, and the text each one carries,
// bounds this walk and everything that reads the document after it (YAML::Clone copies shared
// nodes once per use).
struct Budget {
  std::size_t nodes = 0;
  std::size_t bytes = 0;

  void spend(std::size_t text_bytes) {
    if (++nodes > kMaxNodes)
      fail("(root)", "more than " + std::to_string(kMaxNodes) + " nodes once aliases are expanded");
    if ((bytes += text_bytes) > kMaxBytes)
      fail("(root)",
           "more than " + std::to_string(kMaxBytes) + " bytes of text once aliases are expanded");
  }
};

// `path` is extended and restored in place, so a long key costs its length once per visit.
void walk(const YAML::Node& n, std::string& path, int depth, Budget& budget) {
  if (depth > kMaxDepth)
    fail(path, "nesting too deep (more than " + std::to_string(kMaxDepth) + " levels)");
  budget.spend(n.IsScalar() ? n.Scalar().size() : 0);
  const auto len = path.size();
  if (n.IsMap()) {
    check_keys(n, path);
    for (const auto& kv : n) {
      budget.spend(kv.first.Scalar().size());
      if (len > 0) path += '.';
      path += kv.first.Scalar();
      walk(kv.second, path, depth + 1, budget);
      path.resize(len);
    }
  } else if (n.IsSequence()) {
    std::size_t i = 0;
    for (const auto& item : n) {
      path += "[" + std::to_string(i++) + "]";
      walk(item, path, depth + 1, budget);
      path.resize(len);
    }
  }
}

}  // namespace

std::string expand_env(const std::string& in, const std::string& path) {
  std::string out;
  out.reserve(in.size());
  for (std::size_t i = 0; i < in.size();) {
    if (in.compare(i, 2, "${") != 0) {
      out += in[i++];
      continue;
    }
    auto end = in.find('}', i);
    if (end == std::string::npos) fail(path, "unterminated ${ in \"" + in + "\"");
    std::string ref = in.substr(i + 2, end - i - 2);
    std::string def;
    bool has_def = false;
    if (auto d = ref.find(":-"); d != std::string::npos) {
      def = ref.substr(d + 2);
      ref.resize(d);
      has_def = true;
    }
    const char* v = std::getenv(ref.c_str());
    if (v && *v)
      out += v;
    else if (has_def)
      out += def;
    else
      fail(path, "environment variable " + ref + " is not set");
    i = end + 1;
  }
  return out;
}

bool is_utf8(std::string_view s) noexcept {
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    const std::size_t len = c < 0x80 ? 1 : c >= 0xc2 && c <= 0xdf ? 2 : (c & 0xf0) == 0xe0 ? 3
                            : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
    if (len == 0 || i + len > s.size()) return false;
    std::uint32_t cp = len == 1 ? c : c & (0x7f >> len);
    for (std::size_t k = 1; k < len; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3f);
    }
    const bool overlong = (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000);
    if (overlong || (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff) return false;
    i += len;
  }
  return true;
}

std::string read_secret(const YAML::Node& n, const std::string& path) {
  if (!n.IsScalar()) fail(path, "expected a string");
  const std::string& raw = n.Scalar();
  if (raw.find("${") == std::string::npos)
    fail(path, "must be an ${ENV} reference, not a literal secret");
  // A default or surrounding text would put (part of) a secret into the file after all.
  std::string name;
  if (raw.size() > 3 && raw.starts_with("${") && raw.back() == '}')
    name = raw.substr(2, raw.size() - 3);
  if (!is_env_name(name))
    fail(path, "must be exactly one ${VAR} reference, with no default and no other text");
  const char* v = std::getenv(name.c_str());
  if (!v) fail(path, "environment variable " + name + " is not set");
  std::string value = v;
  if (value.empty()) fail(path, "environment variable " + name + " is empty");
  // It becomes `Authorization: Bearer <value>`: CR or LF would inject headers upstream.
  for (unsigned char c : value)
    if (c < 0x20 || c == 0x7f)
      fail(path, "environment variable " + name + " contains a control character");
  return value;
}

void check_keys(const YAML::Node& map, const std::string& path) {
  std::set<std::string> seen;
  for (const auto& kv : map) {
    if (!kv.first.IsScalar()) fail(path.empty() ? "(root)" : path, "mapping keys must be strings");
    if (!is_utf8(kv.first.Scalar()))
      fail(path.empty() ? "(root)" : path, "a key is not valid UTF-8");
    if (!seen.insert(kv.first.Scalar()).second)
      fail(child_path(path, kv.first.Scalar()), "duplicate key");
  }
}

void check_document(const YAML::Node& root) {
  std::string path;
  Budget budget;
  walk(root, path, 0, budget);
}

bool read_guarded(std::string& error, const std::function<void()>& body) {
  try {
    body();
    return true;
  } catch (const ConfigFailure& e) {
    error = e.what();
  } catch (const YAML::Exception& e) {
    error = "(yaml) line " + std::to_string(e.mark.line + 1) + ", column " +
            std::to_string(e.mark.column + 1) + ": " + e.msg;
  }
  return false;
}

}  // namespace switchyard

// Strict YAML reading shared by config/ and by stage/dispatcher factories: every key must be
// read, every value has the expected type, ${ENV} references are expanded. Failures throw
// ConfigFailure with the node's path; read_guarded() turns them into an error string, so that
// exceptions never leave the control plane.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cctype>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace switchyard {

struct ConfigFailure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

[[noreturn]] inline void fail(const std::string& path, const std::string& what) {
  throw ConfigFailure(path + ": " + what);
}

inline std::string child_path(const std::string& path, const std::string& key) {
  return path.empty() ? key : path + "." + key;
}

// Expands ${VAR} and ${VAR:-default}. A missing variable without default is an error.
std::string expand_env(const std::string& in, const std::string& path);

// Whether `s` is well-formed UTF-8 (no overlongs, surrogates or code points past U+10FFFF).
bool is_utf8(std::string_view s) noexcept;

// Reads a secret: the raw value must be exactly one ${VAR} reference (no default, no other
// text), so that no key is ever written into a config file. The value may not be empty or hold a
// control character, as it is sent in a header; errors name the variable, never the value.
std::string read_secret(const YAML::Node& n, const std::string& path);

// yaml-cpp keeps every entry of a mapping with a repeated key while node[key] returns the first,
// so `api_keys: []` followed by a real list would silently turn auth off: a repeat is an error.
void check_keys(const YAML::Node& map, const std::string& path);

// Checks the whole document before anything reads it: repeated keys in every mapping (stage
// subtrees are read later by factories), nesting depth, and the size once aliases are expanded.
void check_document(const YAML::Node& root);

// A mapping being read: remembers which keys were used so that leftovers are reported.
class Map {
 public:
  Map(const YAML::Node& node, std::string path) : node_(node), path_(std::move(path)) {
    if (!node_.IsMap()) fail(path_, "expected a mapping");
    check_keys(node_, path_);
  }

  std::string at(const std::string& key) const { return child_path(path_, key); }

  // Returns the child node or an undefined node, marking the key as known.
  YAML::Node get(const std::string& key) {
    used_.insert(key);
    return node_[key];
  }

  template <class T>
  void opt(const std::string& key, T& out) {
    YAML::Node n = get(key);
    if (n && !n.IsNull()) read(n, at(key), out);
  }

  template <class T>
  void req(const std::string& key, T& out) {
    YAML::Node n = get(key);
    if (!n || n.IsNull()) fail(at(key), "is required");
    read(n, at(key), out);
  }

  // Every key present but never asked for is an error: typos must not silently do nothing.
  void finish() const {
    for (const auto& kv : node_) {
      auto k = kv.first.as<std::string>();
      if (!used_.count(k)) fail(at(k), "unknown key");
    }
  }

  static void read(const YAML::Node& n, const std::string& path, std::string& out) {
    if (!n.IsScalar()) fail(path, "expected a string");
    out = expand_env(n.Scalar(), path);
    // Names become metric labels, JSON and log text.
    if (!is_utf8(out)) fail(path, "is not valid UTF-8");
  }
  static void read(const YAML::Node& n, const std::string& path, bool& out) {
    if (!n.IsScalar() || !YAML::convert<bool>::decode(n, out)) fail(path, "expected true or false");
  }
  // Type errors echo the raw text (n.Scalar()), never the expanded one: it may hold a secret.
  static void read(const YAML::Node& n, const std::string& path, double& out) {
    if (!n.IsScalar()) fail(path, "expected a number");
    try {
      std::size_t used = 0;
      auto s = expand_env(n.Scalar(), path);
      out = std::stod(s, &used);
      // stod also skips leading spaces and reads nan and inf: a NaN price makes every cost NaN,
      // which no budget is ever charged.
      if (used != s.size() || std::isspace(static_cast<unsigned char>(s.front())) ||
          !std::isfinite(out) || out < 0)
        throw std::invalid_argument(s);
    } catch (const std::exception&) {
      fail(path, "expected a non-negative number, got \"" + n.Scalar() + "\"");
    }
  }
  template <class U>
    requires std::is_unsigned_v<U> && (!std::is_same_v<U, bool>)
  static void read(const YAML::Node& n, const std::string& path, U& out) {
    if (!n.IsScalar()) fail(path, "expected a non-negative integer");
    auto s = expand_env(n.Scalar(), path);
    try {
      std::size_t used = 0;
      unsigned long long v = std::stoull(s, &used);
      // stoull skips leading spaces and negates a '-': " -1" would read as the largest value.
      if (used != s.size() || !std::isdigit(static_cast<unsigned char>(s.front())) ||
          v > std::numeric_limits<U>::max())
        throw std::out_of_range(s);
      out = static_cast<U>(v);
    } catch (const std::exception&) {
      fail(path, "expected a non-negative integer, got \"" + n.Scalar() + "\"");
    }
  }
  static void read(const YAML::Node& n, const std::string& path, std::vector<std::string>& out) {
    if (!n.IsSequence()) fail(path, "expected a list of strings");
    out.clear();
    for (std::size_t i = 0; i < n.size(); ++i) {
      std::string s;
      read(n[i], path + "[" + std::to_string(i) + "]", s);
      out.push_back(std::move(s));
    }
  }

 private:
  YAML::Node node_;
  std::string path_;
  std::set<std::string> used_;
};

// Runs `body`; a ConfigFailure or yaml-cpp exception becomes `error`. Returns true on success.
bool read_guarded(std::string& error, const std::function<void()>& body);

}  // namespace switchyard

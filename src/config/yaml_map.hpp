// Strict YAML reading shared by config/ and by stage/dispatcher factories: every key must be
// read, every value has the expected type, ${ENV} references are expanded. Failures throw
// ConfigFailure with the node's path; read_guarded() turns them into an error string, so that
// exceptions never leave the control plane.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <functional>
#include <limits>
#include <set>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

namespace switchyard {

struct ConfigFailure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

[[noreturn]] inline void fail(const std::string& path, const std::string& what) {
  throw ConfigFailure(path + ": " + what);
}

// Expands ${VAR} and ${VAR:-default}. A missing variable without default is an error.
std::string expand_env(const std::string& in, const std::string& path);

// A mapping being read: remembers which keys were used so that leftovers are reported.
class Map {
 public:
  Map(const YAML::Node& node, std::string path) : node_(node), path_(std::move(path)) {
    if (!node_.IsMap()) fail(path_, "expected a mapping");
  }

  std::string at(const std::string& key) const { return path_.empty() ? key : path_ + "." + key; }

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
  }
  static void read(const YAML::Node& n, const std::string& path, bool& out) {
    if (!n.IsScalar() || !YAML::convert<bool>::decode(n, out)) fail(path, "expected true or false");
  }
  static void read(const YAML::Node& n, const std::string& path, double& out) {
    if (!n.IsScalar()) fail(path, "expected a number");
    try {
      std::size_t used = 0;
      auto s = expand_env(n.Scalar(), path);
      out = std::stod(s, &used);
      if (used != s.size() || out < 0) throw std::invalid_argument(s);
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
      if (used != s.size() || s.front() == '-' || v > std::numeric_limits<U>::max())
        throw std::out_of_range(s);
      out = static_cast<U>(v);
    } catch (const std::exception&) {
      fail(path, "expected a non-negative integer, got \"" + s + "\"");
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

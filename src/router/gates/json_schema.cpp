#include "router/gates/json_schema.hpp"

#include <nlohmann/json.hpp>
#include <re2/re2.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>

namespace switchyard {

namespace {

using nlohmann::json;

constexpr int kMaxDepth = 64;
// Schemas come from clients: anyOf over $refs to itself makes the checks exponential in the
// depth, and a long enum or required list is scanned at every step, so a check gives up after
// this much work: a schema node visited costs 10, each enum value or required name compared 1
// (a nested answer takes a few thousand).
constexpr std::size_t kMaxSteps = 1'000'000;
constexpr std::size_t kNodeSteps = 10;

bool is_type(const json& v, const std::string& type) {
  if (type == "object") return v.is_object();
  if (type == "array") return v.is_array();
  if (type == "string") return v.is_string();
  if (type == "boolean") return v.is_boolean();
  if (type == "null") return v.is_null();
  if (type == "number") return v.is_number();
  if (type == "integer")
    return v.is_number_integer() || (v.is_number_float() && std::isfinite(v.get<double>()) &&
                                     std::floor(v.get<double>()) == v.get<double>());
  return false;
}

class Validator {
 public:
  explicit Validator(const json& root) : root_(root) {}

  bool check(const json& v, const json& s, const std::string& at, int depth) {
    if (!spend(kNodeSteps)) return false;
    if (depth > kMaxDepth) return fail(at, "is nested too deeply");
    if (s.is_boolean()) return s.get<bool>() || fail(at, "is not allowed");
    if (!s.is_object()) return true;
    if (auto ref = s.find("$ref"); ref != s.end() && ref->is_string()) {
      const json* target = resolve(ref->get<std::string>());
      if (!target) return fail(at, "refers to an unknown schema " + ref->get<std::string>());
      return check(v, *target, at, depth + 1);
    }
    if (auto t = s.find("type"); t != s.end()) {
      bool any = false;
      if (t->is_string()) any = is_type(v, t->get<std::string>());
      else if (t->is_array())
        any = std::any_of(t->begin(), t->end(), [&](const json& x) {
          return x.is_string() && is_type(v, x.get<std::string>());
        });
      if (!any) return fail(at, "expected " + (t->is_string() ? t->get<std::string>() : t->dump()));
    }
    if (auto e = s.find("enum"); e != s.end() && e->is_array()) {
      if (!spend(e->size())) return false;  // a long enum, scanned at every step, counts
      if (std::find(e->begin(), e->end(), v) == e->end())
        return fail(at, "is not one of " + e->dump());
    }
    if (auto c = s.find("const"); c != s.end() && *c != v) return fail(at, "must be " + c->dump());
    if (auto any = s.find("anyOf"); any != s.end() && any->is_array()) {
      const std::string first = why_;
      bool matched = false;
      for (const json& option : *any)
        if (check(v, option, at, depth + 1)) {
          matched = true;
          break;
        }
      if (!matched) return fail(at, "matches none of anyOf");
      why_ = first;
    }
    if (v.is_object()) return check_object(v, s, at, depth);
    if (v.is_array()) return check_array(v, s, at, depth);
    if (v.is_string()) {
      const std::string& text = v.get_ref<const std::string&>();
      // In characters (code points), as JSON Schema counts them: the bytes that start one.
      const auto n = static_cast<double>(std::count_if(text.begin(), text.end(), [](char c) {
        return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
      }));
      if (auto m = s.find("minLength"); m != s.end() && m->is_number() && n < m->get<double>())
        return fail(at, "is shorter than minLength");
      if (auto m = s.find("maxLength"); m != s.end() && m->is_number() && n > m->get<double>())
        return fail(at, "is longer than maxLength");
      if (auto p = s.find("pattern"); p != s.end() && p->is_string()) {
        if (!spend(text.size() / 64 + 1)) return false;
        const RE2* re = pattern(*p);
        if (steps_ >= kMaxSteps) return false;  // gave up before compiling it, and says so
        if (re && !RE2::PartialMatch(text, *re)) return fail(at, "does not match its pattern");
      }
    }
    if (v.is_number()) {
      const double x = v.get<double>();
      auto bound = [&](const char* key, auto ok) {
        auto b = s.find(key);
        return b == s.end() || !b->is_number() || ok(x, b->template get<double>());
      };
      if (!bound("minimum", [](double a, double b) { return a >= b; }) ||
          !bound("maximum", [](double a, double b) { return a <= b; }) ||
          !bound("exclusiveMinimum", [](double a, double b) { return a > b; }) ||
          !bound("exclusiveMaximum", [](double a, double b) { return a < b; }))
        return fail(at, "is out of bounds");
      if (auto m = s.find("multipleOf"); m != s.end() && m->is_number() && m->get<double>() > 0) {
        const double q = x / m->get<double>();
        if (std::abs(q - std::round(q)) > 1e-9 * std::max(1.0, std::abs(q)))
          return fail(at, "is not a multiple of " + m->dump());
      }
    }
    return true;
  }

  std::string why_;

 private:
  // The compiled `pattern` (RE2, whose time is linear in the text), once per schema node, its
  // compilation counted as work; null for one RE2 does not take (lookaround, backreferences):
  // not checked, as `format` is not.
  const RE2* pattern(const json& p) {
    auto& re = patterns_[&p];
    if (!re) {
      if (!spend(p.get_ref<const std::string&>().size() + kNodeSteps)) return nullptr;
      RE2::Options options;
      options.set_log_errors(false);
      options.set_max_mem(1 << 20);
      re = std::make_unique<RE2>(p.get_ref<const std::string&>(), options);
    }
    return re->ok() ? re.get() : nullptr;
  }

  // Counts `n` steps of work; false (and why_ says so) once past the cap.
  bool spend(std::size_t n) {
    if (steps_ >= kMaxSteps) return false;  // why_ says so already
    steps_ += n;
    if (steps_ < kMaxSteps) return true;
    why_ = "$: the schema takes too long to check";
    return false;
  }

  bool fail(const std::string& at, const std::string& what) {
    if (steps_ < kMaxSteps) why_ = at + ": " + what;  // else it says why it gave up
    return false;
  }

  const json* resolve(const std::string& ref) const {
    for (const char* prefix : {"#/$defs/", "#/definitions/"}) {
      const std::string p = prefix;
      if (!ref.starts_with(p)) continue;
      auto defs = root_.find(p.substr(2, p.size() - 3));
      if (defs == root_.end() || !defs->is_object()) return nullptr;
      auto it = defs->find(ref.substr(p.size()));
      return it == defs->end() ? nullptr : &*it;
    }
    return ref == "#" ? &root_ : nullptr;
  }

  bool check_object(const json& v, const json& s, const std::string& at, int depth) {
    const auto props = s.find("properties");
    if (auto req = s.find("required"); req != s.end() && req->is_array()) {
      if (!spend(req->size())) return false;
      for (const json& name : *req)
        if (name.is_string() && !v.contains(name.get<std::string>()))
          return fail(at, "lacks the required \"" + name.get<std::string>() + "\"");
    }
    const auto extra = s.find("additionalProperties");
    for (const auto& [key, value] : v.items()) {
      std::string path = at;
      path += '.';
      path += key;
      if (props != s.end() && props->is_object())
        if (auto p = props->find(key); p != props->end()) {
          if (!check(value, *p, path, depth + 1)) return false;
          continue;
        }
      if (extra != s.end() && !check(value, *extra, path, depth + 1)) return false;
    }
    return true;
  }

  bool check_array(const json& v, const json& s, const std::string& at, int depth) {
    const double n = static_cast<double>(v.size());
    if (auto m = s.find("minItems"); m != s.end() && m->is_number() && n < m->get<double>())
      return fail(at, "has fewer than minItems");
    if (auto m = s.find("maxItems"); m != s.end() && m->is_number() && n > m->get<double>())
      return fail(at, "has more than maxItems");
    if (auto items = s.find("items"); items != s.end())
      for (std::size_t i = 0; i < v.size(); ++i)
        if (!check(v[i], *items, at + "[" + std::to_string(i) + "]", depth + 1)) return false;
    return true;
  }

  const json& root_;
  std::size_t steps_ = 0;
  std::map<const json*, std::unique_ptr<RE2>> patterns_;
};

}  // namespace

bool conforms(const json& value, const json& schema, std::string& why) {
  Validator v(schema);
  if (v.check(value, schema, "$", 0)) return true;
  why = std::move(v.why_);
  return false;
}

}  // namespace switchyard

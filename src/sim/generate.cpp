#include "sim/generate.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace switchyard::sim {

using json = nlohmann::json;

std::uint64_t hash_text(std::string_view text, std::uint64_t h) {
  for (unsigned char c : text) h = (h ^ c) * 1099511628211ull;
  return h;
}

namespace {

std::uint64_t mix(std::uint64_t h) {
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ull;
  h ^= h >> 33;
  return h;
}

double unit(std::uint64_t h) { return static_cast<double>(mix(h) >> 11) * 0x1.0p-53; }

const char* kWords[] = {"the",     "gateway", "routes",   "each",    "request", "to",
                        "a",       "model",   "that",     "fits",    "cost",    "and",
                        "quality", "while",   "latency",  "stays",   "low",     "for",
                        "every",   "answer",  "streams",  "back",    "quickly", "here",
                        "because", "answers", "improve",  "when",    "context", "is",
                        "clear",   "so",      "results",  "follow",  "from",    "simple",
                        "steps",   "in",      "order",    "with",    "care",    "data"};

std::string word(std::mt19937_64& rng) { return kWords[rng() % std::size(kWords)]; }

const json* resolve_ref(const json& schema, const json& root) {
  auto ref = schema.find("$ref");
  if (ref == schema.end() || !ref->is_string()) return &schema;
  const auto& r = ref->get_ref<const std::string&>();
  for (const char* prefix : {"#/$defs/", "#/definitions/"}) {
    if (r.rfind(prefix, 0) == 0) {
      const char* key = prefix[2] == '$' ? "$defs" : "definitions";
      auto defs = root.find(key);
      if (defs != root.end()) {
        auto it = defs->find(r.substr(std::strlen(prefix)));
        if (it != defs->end()) return &*it;
      }
    }
  }
  if (r == "#") return &root;
  return &schema;
}

// A non-negative integer keyword, clamped, or `def` when absent or of another type.
std::size_t bound(const json& s, const char* key, std::size_t def, std::size_t max) {
  auto it = s.find(key);
  if (it == s.end() || !it->is_number_unsigned()) return def;
  return std::min<std::size_t>(it->get<std::size_t>(), max);
}

json string_for(const json& s, std::mt19937_64& rng) {
  auto format = s.value("format", "");
  if (format == "date") return "2024-05-17";
  if (format == "date-time") return "2024-05-17T12:30:00Z";
  if (format == "email") return "ada@example.com";
  if (format == "uri") return "https://example.com/item";
  if (format == "uuid") return "123e4567-e89b-12d3-a456-426614174000";
  std::size_t min_len = bound(s, "minLength", 0, 4096), max_len = bound(s, "maxLength", 0, 1 << 20);
  std::string out = word(rng);
  while (out.size() < min_len) out += " " + word(rng);
  if (max_len && out.size() > max_len) out.resize(max_len);
  return out;
}

json number_for(const json& s, std::mt19937_64& rng, bool integer) {
  double lo = 0, hi = 100;
  if (s.contains("minimum") && s["minimum"].is_number()) lo = s["minimum"].get<double>();
  if (s.contains("exclusiveMinimum") && s["exclusiveMinimum"].is_number())
    lo = s["exclusiveMinimum"].get<double>() + (integer ? 1 : 1e-6);
  if (s.contains("maximum") && s["maximum"].is_number()) hi = s["maximum"].get<double>();
  if (s.contains("exclusiveMaximum") && s["exclusiveMaximum"].is_number())
    hi = s["exclusiveMaximum"].get<double>() - (integer ? 1 : 1e-6);
  if (!s.contains("maximum") && !s.contains("exclusiveMaximum")) hi = std::max(hi, lo + 100);
  if (hi < lo) hi = lo;
  if (integer) {
    // In doubles, then clamped into a range every JSON parser reads exactly.
    const double a = std::clamp(std::ceil(lo), -9e15, 9e15);
    const double b = std::clamp(std::floor(hi), a, 9e15);
    return static_cast<long long>(std::min(b, a + std::floor(unit(rng()) * (b - a + 1))));
  }
  return lo + (hi - lo) * unit(rng());
}

}  // namespace

std::vector<std::string> answer_words(std::uint64_t seed, std::uint32_t n) {
  std::mt19937_64 rng(seed);
  std::vector<std::string> out;
  out.reserve(n);
  for (std::uint32_t i = 0; i < n; ++i) out.push_back((i ? " " : "") + word(rng));
  return out;
}

namespace {

// Whether `v`'s values (itself and all it holds) fit in `budget`, which they are taken from; if
// not, the budget is spent: nothing more is made. Counting stops there, so it costs no more
// than the budget.
bool take_values(const json& v, std::size_t& budget) {
  std::vector<const json*> open{&v};
  while (!open.empty()) {
    const json* x = open.back();
    open.pop_back();
    if (budget == 0) return false;
    --budget;
    if (x->is_structured())
      for (const auto& c : *x) open.push_back(&c);
  }
  return true;
}

// instance_of, with `budget` the values it may still make: a schema whose items refer back to
// it ({"minItems": 32, "items": {"$ref": "#"}}) would otherwise ask for 32^16 of them.
json instance_in(const json& schema_in, std::mt19937_64& rng, const json& root, int depth,
                 std::size_t& budget) {
  if (budget == 0) return nullptr;
  --budget;  // every value counts, the nulls below 16 levels too
  if (!schema_in.is_object() || depth > 16) return nullptr;
  const json& s = *resolve_ref(schema_in, root);
  // A copied value counts for all it holds: a const of 100,000 values, 30,000 times, is 3e9.
  if (s.contains("const")) return take_values(s["const"], budget) ? s["const"] : json();
  if (auto e = s.find("enum"); e != s.end() && e->is_array() && !e->empty()) {
    const json& pick = (*e)[rng() % e->size()];
    return take_values(pick, budget) ? pick : json();
  }
  for (const char* k : {"anyOf", "oneOf"})
    if (auto a = s.find(k); a != s.end() && a->is_array() && !a->empty())
      return instance_in((*a)[0], rng, root, depth + 1, budget);
  if (auto all = s.find("allOf"); all != s.end() && all->is_array()) {
    json merged = json::object();
    for (const auto& part : *all) {
      auto v = instance_in(part, rng, root, depth + 1, budget);
      if (v.is_object()) merged.update(v);
    }
    return merged;
  }
  std::string type;
  if (auto t = s.find("type"); t != s.end()) {
    if (t->is_string()) {
      type = t->get<std::string>();
    } else if (t->is_array()) {
      for (const auto& x : *t)
        if (x.is_string() && x != "null") {
          type = x.get<std::string>();
          break;
        }
      if (type.empty()) type = "null";
    }
  } else if (s.contains("properties")) {
    type = "object";
  } else if (s.contains("items")) {
    type = "array";
  }
  // Deep in a (possibly recursive) schema, generate the least that validates: required
  // properties only, and as few array items as allowed.
  const bool deep = depth > 3;
  if (type == "object") {
    json out = json::object();
    const json required = s.value("required", json::array());
    if (auto props = s.find("properties"); props != s.end() && props->is_object())
      for (auto it = props->begin(); it != props->end() && budget > 0; ++it)
        if (!deep || std::find(required.begin(), required.end(), it.key()) != required.end())
          out[it.key()] = instance_in(it.value(), rng, root, depth + 1, budget);
    return out;
  }
  if (type == "array") {
    std::size_t lo = bound(s, "minItems", deep ? 0 : 1, 32);
    std::size_t hi = deep ? lo : bound(s, "maxItems", std::max<std::size_t>(lo, 3), 32);
    if (hi < lo) hi = lo;
    std::size_t n = lo + rng() % (hi - lo + 1);
    json out = json::array();
    const json items = s.contains("items") ? s["items"] : json::object();
    for (std::size_t i = 0; i < n && budget > 0; ++i)
      out.push_back(instance_in(items, rng, root, depth + 1, budget));
    return out;
  }
  if (type == "string") return string_for(s, rng);
  if (type == "integer") return number_for(s, rng, true);
  if (type == "number") return number_for(s, rng, false);
  if (type == "boolean") return (rng() & 1) != 0;
  if (type == "null") return nullptr;
  return word(rng);  // no type: any value validates
}

}  // namespace

json instance_of(const json& schema, std::mt19937_64& rng, const json& root, int depth) {
  std::size_t budget = 10000;
  return instance_in(schema, rng, root, depth, budget);
}

std::vector<std::string> token_pieces(std::string_view text) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : text) {
    // Never split inside a UTF-8 sequence: each piece must be valid text on its own.
    const bool continuation = (static_cast<unsigned char>(c) & 0xC0) == 0x80;
    if (!continuation && !cur.empty() &&
        ((c == ' ' || c == '\n') ? cur.size() >= 2 : cur.size() >= 6)) {
      out.push_back(std::move(cur));
      cur.clear();
    }
    cur += c;
  }
  if (!cur.empty()) out.push_back(std::move(cur));
  return out;
}

std::vector<float> embed(std::string_view text, std::size_t dims) {
  std::vector<float> v(dims, 0.f);
  if (dims == 0) return v;
  const std::size_t n = text.size() < 3 ? 1 : text.size() - 2;
  for (std::size_t i = 0; i < n; ++i) {
    auto h = hash_text(text.substr(i, 3));
    v[h % dims] += (h >> 63) ? 1.f : -1.f;
  }
  double norm = 0;
  for (float x : v) norm += static_cast<double>(x) * x;
  norm = std::sqrt(norm);
  if (norm > 0)
    for (float& x : v) x = static_cast<float>(x / norm);
  return v;
}

std::string base64_floats(const std::vector<float>& v) {
  static const char* kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string bytes(v.size() * 4, '\0');
  std::memcpy(bytes.data(), v.data(), bytes.size());  // x86-64 and arm64 are little-endian
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  for (std::size_t i = 0; i < bytes.size(); i += 3) {
    std::uint32_t n = static_cast<unsigned char>(bytes[i]) << 16;
    if (i + 1 < bytes.size()) n |= static_cast<unsigned char>(bytes[i + 1]) << 8;
    if (i + 2 < bytes.size()) n |= static_cast<unsigned char>(bytes[i + 2]);
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += i + 1 < bytes.size() ? kAlphabet[(n >> 6) & 63] : '=';
    out += i + 2 < bytes.size() ? kAlphabet[n & 63] : '=';
  }
  return out;
}

double simulated_quality(const SimModel& model, std::string_view prompt, std::string_view kind) {
  const auto ph = hash_text(prompt);
  const double difficulty = unit(ph);
  const double skill = model.skill_for(kind);
  // The spread shrinks near 0 and 1 so that p stays in [0,1] and averages to exactly skill.
  const double spread = std::min(0.8, 2 * std::min(skill, 1 - skill));
  const double p = skill + spread * (0.5 - difficulty);
  return unit(hash_text(model.name, ph)) < p ? 1.0 : 0.0;
}

std::vector<double> token_logprobs(double quality, std::size_t n, std::mt19937_64& rng) {
  std::normal_distribution<double> answer_noise(0.0, 0.3), token_noise(0.0, 0.05);
  const double mean = std::clamp(0.45 + 0.5 * quality + answer_noise(rng), 0.05, 0.999);
  std::vector<double> out(n);
  for (auto& lp : out) lp = std::log(std::clamp(mean + token_noise(rng), 0.01, 0.9999));
  return out;
}

}  // namespace switchyard::sim

#include "router/decision.hpp"

#include "core/json_text.hpp"

namespace switchyard {

namespace {

// Appends the members of one JSON object, in the order they are given (decision_json gives them
// sorted by key).
class ObjectWriter {
 public:
  explicit ObjectWriter(std::string& out) : out_(out) { out_.push_back('{'); }
  ~ObjectWriter() { out_.push_back('}'); }
  ObjectWriter(const ObjectWriter&) = delete;
  ObjectWriter& operator=(const ObjectWriter&) = delete;

  std::string& key(std::string_view k) {
    if (!first_) out_.push_back(',');
    first_ = false;
    out_.push_back('"');
    append_json_escaped(out_, k);
    out_.append("\":");
    return out_;
  }
  void string(std::string_view k, std::string_view v) {
    key(k).push_back('"');
    append_json_escaped(out_, v);
    out_.push_back('"');
  }
  void number(std::string_view k, double v) { append_json_number(key(k), v); }
  void boolean(std::string_view k, bool v) { key(k).append(v ? "true" : "false"); }

 private:
  std::string& out_;
  bool first_ = true;
};

void target_members(ObjectWriter& o, const Target& t) {
  o.string("model", t.model->name);
  o.string("upstream", t.upstream_config->name);
}

// Writes `d` as decision_json() returns it; the writers close their objects as they go out of
// scope, before the caller uses `out`.
void write_decision(const Decision& d, std::string& out) {
  ObjectWriter o(out);
  if (d.bandit.target) {
    o.key("bandit");
    ObjectWriter b(out);
    b.boolean("explored", d.bandit.explored);
    b.string("model", d.bandit.target->model->name);
    b.boolean("shadow", d.bandit.shadow);
    b.string("upstream", d.bandit.target->upstream_config->name);
  }
  const auto array = [&](std::string_view name, const auto& items, const auto& member) {
    if (items.empty()) return;
    o.key(name).push_back('[');
    for (const auto& item : items) {
      if (&item != &items.front()) out.push_back(',');
      ObjectWriter e(out);
      member(e, item);
    }
    out.push_back(']');
  };
  array("breaker_open", d.demoted, [](ObjectWriter& e, const Target* t) { target_members(e, *t); });
  array("candidates", d.predictions, [](ObjectWriter& e, const Decision::Prediction& p) {
    e.number("cost_usd", p.cost_usd);
    e.string("model", p.target->model->name);
    e.number("quality", p.quality);
    e.number("score", p.score);
    e.string("upstream", p.target->upstream_config->name);
  });
  if (!d.tier.empty()) o.boolean("fallback", d.fallback);
  array("labels", d.labels, [](ObjectWriter& e, const Decision::Label& l) {
    e.number("confidence", l.confidence);
    e.string("label", l.name);
  });
  if (d.sticky) o.boolean("sticky", true);
  if (!d.tier.empty()) o.string("tier", d.tier);
}

}  // namespace

std::string decision_json(const Decision& d) {
  std::string out;
  out.reserve(256);
  write_decision(d, out);
  return out;
}

}  // namespace switchyard

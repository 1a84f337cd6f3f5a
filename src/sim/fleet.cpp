#include "sim/fleet.hpp"

#include "config/yaml_map.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <fstream>

namespace switchyard::sim {

double LogNormal::sample(std::mt19937_64& rng) const {
  if (sigma <= 0) return median;
  std::normal_distribution<double> z(0.0, 1.0);
  return median * std::exp(sigma * z(rng));
}

double LogNormal::mean() const { return median * std::exp(sigma * sigma / 2); }

const Episode* SimModel::episode(Episode::Kind kind, double t) const {
  for (const auto& e : episodes)
    if (e.kind == kind && t >= e.start_s && t < e.end_s) return &e;
  return nullptr;
}

const SimModel* Fleet::find(std::string_view name) const {
  for (const auto& m : models)
    if (m->name == name) return m.get();
  return open ? &default_model : nullptr;
}

std::unique_ptr<Fleet> open_fleet() {
  auto f = std::make_unique<Fleet>();
  f->open = true;
  f->default_model.name = "default";
  f->default_model.ttft_ms = {0, 0};
  f->default_model.tokens_per_s = {0, 0};  // 0: no pacing
  f->default_model.output_tokens = {8, 0};
  return f;
}

namespace {

void read_lognormal(Map& m, const std::string& key, LogNormal& out) {
  auto n = m.get(key);
  if (!n || n.IsNull()) return;
  Map d(n, m.at(key));
  d.req("median", out.median);
  d.opt("sigma", out.sigma);
  d.finish();
}

Episode read_episode(const YAML::Node& n, const std::string& path) {
  Episode e;
  Map m(n, path);
  std::string type;
  m.req("type", type);
  if (type == "latency_spike") e.kind = Episode::Kind::latency_spike;
  else if (type == "outage") e.kind = Episode::Kind::outage;
  else if (type == "error_burst") e.kind = Episode::Kind::error_burst;
  else fail(m.at("type"), "expected latency_spike, outage or error_burst, got \"" + type + "\"");
  m.req("start_s", e.start_s);
  m.req("end_s", e.end_s);
  if (e.kind == Episode::Kind::latency_spike) m.req("factor", e.factor);
  if (e.kind == Episode::Kind::error_burst) m.req("error_rate", e.error_rate);
  m.finish();
  if (e.end_s <= e.start_s) fail(path + ".end_s", "must be after start_s");
  return e;
}

}  // namespace

double SimModel::skill_for(std::string_view kind) const {
  for (const auto& [k, s] : skill_by_kind)
    if (k == kind) return s;
  return skill;
}

namespace {

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }
bool word_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

// Whether `word` (lower case) occurs in `text` as a whole word, ignoring ASCII case.
bool has_word(std::string_view text, std::string_view word) {
  if (word.empty() || word.size() > text.size()) return false;
  for (std::size_t i = 0; i + word.size() <= text.size(); ++i) {
    if (i > 0 && word_char(text[i - 1])) continue;
    std::size_t j = 0;
    while (j < word.size() && lower(text[i + j]) == word[j]) ++j;
    if (j == word.size() && (i + j == text.size() || !word_char(text[i + j]))) return true;
  }
  return false;
}

}  // namespace

std::string_view Fleet::kind_of(std::string_view prompt) const {
  for (const auto& k : kinds)
    for (const auto& w : k.keywords)
      if (has_word(prompt, w)) return k.name;
  return {};
}

Result<std::unique_ptr<Fleet>> load_fleet(const std::string& path) {
  auto fleet = std::make_unique<Fleet>();
  std::string error;
  bool ok = read_guarded(error, [&] {
    YAML::Node root = YAML::LoadFile(path);
    Map m(root, "");
    m.opt("time_scale", fleet->time_scale);
    if (auto kinds = m.get("kinds"); kinds && !kinds.IsNull()) {
      if (!kinds.IsSequence()) fail("kinds", "expected a list of {name, keywords}");
      for (std::size_t i = 0; i < kinds.size(); ++i) {
        Map km(kinds[i], "kinds[" + std::to_string(i) + "]");
        PromptKind k;
        km.req("name", k.name);
        km.req("keywords", k.keywords);
        km.finish();
        if (k.keywords.empty()) fail(km.at("keywords"), "must list at least one keyword");
        for (auto& w : k.keywords)
          for (auto& c : w) c = lower(c);
        fleet->kinds.push_back(std::move(k));
      }
    }
    auto models = m.get("models");
    if (!models || !models.IsSequence() || models.size() == 0)
      fail("models", "expected a non-empty list");
    for (std::size_t i = 0; i < models.size(); ++i) {
      const std::string p = "models[" + std::to_string(i) + "]";
      auto sm = std::make_unique<SimModel>();
      Map mm(models[i], p);
      mm.req("name", sm->name);
      std::string kind = "chat";
      mm.opt("kind", kind);
      if (kind != "chat" && kind != "embedding")
        fail(mm.at("kind"), "expected chat or embedding");
      sm->embedding = kind == "embedding";
      mm.opt("dims", sm->dims);
      if (auto price = mm.get("price_usd_per_mtok"); price && !price.IsNull()) {
        Map pm(price, mm.at("price_usd_per_mtok"));
        pm.req("input", sm->price.input);
        pm.req("output", sm->price.output);
        pm.finish();
      }
      read_lognormal(mm, "ttft_ms", sm->ttft_ms);
      read_lognormal(mm, "tokens_per_s", sm->tokens_per_s);
      read_lognormal(mm, "output_tokens", sm->output_tokens);
      mm.opt("error_rate", sm->error_rate);
      if (auto slow = mm.get("slow"); slow && !slow.IsNull()) {
        Map sl(slow, mm.at("slow"));
        sl.req("share", sm->slow_share);
        sl.opt("factor", sm->slow_factor);
        sl.finish();
        if (sm->slow_share > 1) fail(sl.at("share"), "must be between 0 and 1");
        if (sm->slow_factor < 1) fail(sl.at("factor"), "must be at least 1");
      }
      mm.opt("max_concurrent", sm->max_concurrent);
      mm.opt("skill", sm->skill);
      if (auto by_kind = mm.get("skill_by_kind"); by_kind && !by_kind.IsNull()) {
        if (!by_kind.IsMap()) fail(mm.at("skill_by_kind"), "expected a mapping of kind to skill");
        check_keys(by_kind, mm.at("skill_by_kind"));
        for (const auto& kv : by_kind) {
          const auto kind = kv.first.as<std::string>();
          const auto kp = mm.at("skill_by_kind") + "." + kind;
          if (std::none_of(fleet->kinds.begin(), fleet->kinds.end(),
                           [&](const PromptKind& k) { return k.name == kind; }))
            fail(kp, "not one of the fleet's kinds");
          double s = 0;
          Map::read(kv.second, kp, s);
          if (s > 1) fail(kp, "must be between 0 and 1");
          sm->skill_by_kind.emplace_back(kind, s);
        }
      }
      if (auto eps = mm.get("episodes"); eps && !eps.IsNull()) {
        if (!eps.IsSequence()) fail(mm.at("episodes"), "expected a list");
        for (std::size_t k = 0; k < eps.size(); ++k)
          sm->episodes.push_back(read_episode(eps[k], mm.at("episodes") + "[" + std::to_string(k) + "]"));
      }
      mm.finish();
      if (sm->error_rate > 1) fail(mm.at("error_rate"), "must be between 0 and 1");
      if (sm->skill > 1) fail(mm.at("skill"), "must be between 0 and 1");
      if (sm->embedding && sm->dims == 0) fail(mm.at("dims"), "must be greater than 0");
      fleet->models.push_back(std::move(sm));
    }
    m.finish();
    if (fleet->time_scale <= 0) fail("time_scale", "must be greater than 0");
  });
  if (!ok) return make_error(Reason::internal, path + ": " + error);
  return fleet;
}

Result<std::shared_ptr<const Dataset>> Dataset::load(const std::string& path,
                                                      const std::string& split) {
  auto file = load_outcomes(path, split);
  if (!file) return file.error();
  auto ds = std::make_shared<Dataset>();
  ds->models_ = file->models;
  for (auto& r : file->records) {
    DatasetEntry e;
    e.id = std::move(r.id);
    e.split = std::move(r.split);
    for (std::size_t m = 0; m < r.outcomes.size(); ++m)
      if (r.outcomes[m]) e.outcomes.emplace(file->models[m], std::move(*r.outcomes[m]));
    ds->by_prompt_.try_emplace(std::move(r.prompt), std::move(e));
  }
  return std::shared_ptr<const Dataset>(std::move(ds));
}

const DatasetEntry* Dataset::find(std::string_view prompt) const {
  auto it = by_prompt_.find(std::string(prompt));
  return it == by_prompt_.end() ? nullptr : &it->second;
}

Result<void> add_dataset_models(Fleet& fleet, const std::string& models_json_path) {
  if (!fleet.dataset) return {};
  nlohmann::json catalogue;
  if (!models_json_path.empty()) {
    std::ifstream in(models_json_path);
    if (in) {
      catalogue = nlohmann::json::parse(in, nullptr, false);
      if (catalogue.is_discarded())
        return make_error(Reason::internal, models_json_path + ": not valid JSON");
    }
  }
  for (const auto& name : fleet.dataset->models()) {
    bool known = false;
    for (const auto& m : fleet.models) known |= m->name == name;
    if (known) continue;
    auto sm = std::make_unique<SimModel>();
    sm->name = name;
    sm->max_concurrent = 256;
    // An entry that is not an object (a hand-edited models.json) describes nothing.
    if (catalogue.is_object() && catalogue.contains("models") &&
        catalogue["models"].contains(name) && catalogue["models"][name].is_object()) {
      const auto& c = catalogue["models"][name];
      const auto& p = c.value("price_usd_per_mtok", nlohmann::json());
      if (p.is_array() && p.size() == 2 && p[0].is_number() && p[1].is_number()) {
        sm->price.input = c["price_usd_per_mtok"][0].get<double>();
        sm->price.output = c["price_usd_per_mtok"][1].get<double>();
      }
      const auto& l = c.value("latency", nlohmann::json());
      if (l.is_object() && l.value("ttft_ms", nlohmann::json()).is_number() &&
          l.value("tokens_per_s", nlohmann::json()).is_number()) {
        sm->ttft_ms = {l["ttft_ms"].get<double>(), 0.3};
        sm->tokens_per_s = {l["tokens_per_s"].get<double>(), 0.2};
      }
    }
    fleet.models.push_back(std::move(sm));
  }
  return {};
}

}  // namespace switchyard::sim

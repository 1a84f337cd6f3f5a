// `classifier`: rules test features of the request (router/classify/features.hpp) and yield
// labels with a confidence; the first matching rule whose label has a tier decides the
// candidates. No rule: the default tier. A deciding rule below min_confidence: the fallback tier
// (the stronger models, as users expect when the router is unsure). Every matching label is
// recorded in the decision.
//
//   stages:
//     - type: classifier
//       rules:
//         - {label: code, when: {code: true}, confidence: 0.9}
//         - {label: legal, when: {system_keywords: [contract, plaintiff]}, confidence: 0.7}
//         - {label: short, when: {tokens_under: 40, regex: '(?i)^(hi|thanks)\b'}}
//       tiers:
//         code: [large, medium]
//         short: [nano]
//       default: [small, large]
//       min_confidence: 0.6        # optional, default 0
//       fallback: [large]          # optional, default: the default tier
//
// A rule's `when` holds any of: tokens_over / tokens_under (the whole conversation's estimated
// tokens), messages_over (messages, any role), turns_over (user turns), keywords / regex (the
// last user message),
// system_keywords / system_regex (the system prompt), and code, math, json_output, tools,
// images (true or false). All must hold; an empty `when` always does. Keywords match whole words,
// case-insensitively. Patterns are RE2, which runs in time linear in the text: no pattern can
// backtrack forever. `confidence` defaults to 1.
#include "router/classify/classifier.hpp"

#include "config/yaml_map.hpp"
#include "router/classify/features.hpp"
#include "router/pattern.hpp"

#include <re2/re2.h>
#include <re2/set.h>

#include <memory>
#include <algorithm>
#include <optional>
#include <type_traits>

namespace switchyard {

namespace {

using Targets = std::vector<const Target*>;

// A rule's keyword or regex pattern, and its place in the stage's PatternSet for that text.
struct Pattern {
  std::unique_ptr<RE2> re;  // null: the rule has no such pattern
  int slot = -1;
};

// Every rule's patterns over one text (the prompt, or the system prompt), searched in one pass of
// RE2::Set's automaton instead of one search per pattern, on the first question of a request.
// Should the set's automaton run out of memory, each pattern is searched alone.
class PatternSet {
 public:
  PatternSet() : set_(options(), RE2::UNANCHORED) {}
  void add(Pattern& p) {
    if (!p.re) return;
    p.slot = set_.Add(p.re->pattern(), nullptr);
    any_ = true;
    refused_ = refused_ || p.slot < 0;  // then every pattern is searched alone
  }
  void compile() { compiled_ = any_ && !refused_ && set_.Compile(); }

  // One request's answers about `text`; the set's matches go into `matched`, which no other
  // Hits may share while this one is in use. Both must outlive it.
  class Hits {
   public:
    Hits(const PatternSet& set, const std::string& text, std::vector<int>& matched)
        : set_(set), text_(text), matched_(matched) {}
    bool found(const Pattern& p) {
      if (!p.re) return true;
      if (!searched_) search();
      if (!set_ok_) return RE2::PartialMatch(text_, *p.re);
      return std::find(matched_.begin(), matched_.end(), p.slot) != matched_.end();
    }

   private:
    void search() {
      searched_ = true;
      RE2::Set::ErrorInfo error{};
      matched_.clear();
      set_ok_ = set_.compiled_ && (set_.set_.Match(text_, &matched_, &error) ||
                                   error.kind == RE2::Set::kNoError);
    }
    const PatternSet& set_;
    const std::string& text_;
    std::vector<int>& matched_;
    bool searched_ = false;
    bool set_ok_ = false;
  };

 private:
  static RE2::Options options() {
    RE2::Options o;  // as compile_pattern's, with room for every rule's automaton
    o.set_log_errors(false);
    o.set_max_mem(32 << 20);
    return o;
  }
  RE2::Set set_;
  bool any_ = false, refused_ = false;
  bool compiled_ = false;
};

struct Rule {
  std::string label;
  double confidence = 1;
  int tier = -1;  // index into the stage's tiers; -1: the label only informs
  std::optional<std::uint32_t> tokens_over, tokens_under, messages_over, turns_over;
  std::optional<bool> code, math, json_output, tools, images;
  // Keywords and regex on the prompt, on the system prompt.
  Pattern keywords, regex, system_keywords, system_regex;

  bool matches(const PromptFeatures& f, PatternSet::Hits& text, PatternSet::Hits& system) const {
    auto is = [](const std::optional<bool>& want, bool have) { return !want || *want == have; };
    return (!tokens_over || f.tokens > *tokens_over) &&
           (!tokens_under || f.tokens < *tokens_under) &&
           (!messages_over || f.messages > *messages_over) &&
           (!turns_over || f.user_turns > *turns_over) && is(code, f.code) && is(math, f.math) &&
           is(json_output, f.json_output) && is(tools, f.tools) && is(images, f.images) &&
           text.found(keywords) && text.found(regex) && system.found(system_keywords) &&
           system.found(system_regex);
  }
};

struct Tier {
  std::string name;
  Targets targets;
};

class ClassifierStage final : public RouterStage {
 public:
  ClassifierStage(std::vector<Rule> rules, std::vector<Tier> tiers, Targets fallback,
                  double min_confidence)
      : rules_(std::move(rules)),
        tiers_(std::move(tiers)),
        fallback_(std::move(fallback)),
        min_confidence_(min_confidence) {
    for (auto& r : rules_) {
      text_patterns_.add(r.keywords);
      text_patterns_.add(r.regex);
      system_patterns_.add(r.system_keywords);
      system_patterns_.add(r.system_regex);
    }
    text_patterns_.compile();
    system_patterns_.compile();
  }

  Result<void> apply(RouteContext& ctx) const override {
    const PromptInfo& prompt = ctx.request.prompt;
    const PromptFeatures features = prompt_features(prompt);
    // Reused by each request on this thread (one at a time): no allocation once grown.
    thread_local std::vector<int> text_matched, system_matched;
    PatternSet::Hits text(text_patterns_, prompt.text, text_matched);
    PatternSet::Hits system(system_patterns_, prompt.system, system_matched);
    const Rule* decided = nullptr;
    for (const auto& r : rules_)
      if (r.matches(features, text, system)) {
        ctx.decision.labels.push_back({r.label, r.confidence});
        if (!decided && r.tier >= 0) decided = &r;
      }
    // The default tier is the last one.
    const Tier& tier = decided ? tiers_[static_cast<std::size_t>(decided->tier)] : tiers_.back();
    ctx.decision.tier = tier.name;
    if (decided && decided->confidence < min_confidence_) {
      ctx.decision.fallback = true;
      ctx.candidates = fallback_;
    } else {
      ctx.candidates = tier.targets;
    }
    return {};
  }

 private:
  std::vector<Rule> rules_;
  PatternSet text_patterns_, system_patterns_;
  std::vector<Tier> tiers_;  // those of the table, then the default
  Targets fallback_;
  double min_confidence_;
};

// Every upstream of every model in the list at `path`.
Targets targets_of(const YAML::Node& n, const std::string& path, BuildContext& ctx) {
  std::vector<std::string> models;
  Map::read(n, path, models);
  if (models.empty()) fail(path, "must list at least one model");
  Targets out;
  for (std::size_t i = 0; i < models.size(); ++i) {
    auto t = ctx.targets_for(models[i]);
    if (t.empty())
      fail(path + "[" + std::to_string(i) + "]",
           "unknown model \"" + models[i] + "\" (known: " + std::string(ctx.model_list()) + ")");
    out.insert(out.end(), t.begin(), t.end());
  }
  return out;
}

// Whole words, any of them, ignoring case.
std::unique_ptr<RE2> compile_keywords(const std::vector<std::string>& words,
                                      const std::string& path) {
  if (words.empty()) fail(path, "must list at least one keyword");
  std::string pattern = "(?i)\\b(?:";
  for (std::size_t i = 0; i < words.size(); ++i) {
    if (words[i].empty()) fail(path + "[" + std::to_string(i) + "]", "is empty");
    if (i) pattern += '|';
    pattern += RE2::QuoteMeta(words[i]);
  }
  return compile_pattern(pattern + ")\\b", path);
}

Rule read_rule(const YAML::Node& n, const std::string& path) {
  Rule r;
  Map m(n, path);
  m.req("label", r.label);
  m.opt("confidence", r.confidence);
  if (r.confidence > 1) fail(m.at("confidence"), "must be between 0 and 1");
  auto when_node = m.get("when");
  m.finish();
  if (!when_node || when_node.IsNull()) return r;
  const std::string wp = m.at("when");
  Map w(when_node, wp);
  auto optional = [&](const char* key, auto& out) {  // a std::optional of a number or bool
    if (auto node = w.get(key); node && !node.IsNull()) {
      typename std::remove_reference_t<decltype(out)>::value_type v{};
      Map::read(node, w.at(key), v);
      out = v;
    }
  };
  auto words = [&](const char* key, Pattern& out) {
    std::vector<std::string> v;
    if (auto node = w.get(key); node && !node.IsNull()) {
      Map::read(node, w.at(key), v);
      out.re = compile_keywords(v, w.at(key));
    }
  };
  auto pattern = [&](const char* key, Pattern& out) {
    std::string v;
    if (auto node = w.get(key); node && !node.IsNull()) {
      Map::read(node, w.at(key), v);
      out.re = compile_pattern(v, w.at(key));
    }
  };
  optional("tokens_over", r.tokens_over);
  optional("tokens_under", r.tokens_under);
  optional("messages_over", r.messages_over);
  optional("turns_over", r.turns_over);
  optional("code", r.code);
  optional("math", r.math);
  optional("json_output", r.json_output);
  optional("tools", r.tools);
  optional("images", r.images);
  words("keywords", r.keywords);
  pattern("regex", r.regex);
  words("system_keywords", r.system_keywords);
  pattern("system_regex", r.system_regex);
  w.finish();
  return r;
}

}  // namespace

Built<RouterStage> make_classifier_stage(const StageConfig& sc, BuildContext& ctx) {
  std::vector<Rule> rules;
  std::vector<Tier> tiers;
  Targets fallback;
  double min_confidence = 0;
  std::string error;
  bool ok = read_guarded(error, [&] {
    Map m(*sc.node, sc.path);
    std::string type;
    m.req("type", type);
    m.opt("min_confidence", min_confidence);
    if (min_confidence > 1) fail(m.at("min_confidence"), "must be between 0 and 1");
    auto rules_node = m.get("rules");
    if (!rules_node || !rules_node.IsSequence() || rules_node.size() == 0)
      fail(m.at("rules"), "expected a list of rules");
    for (std::size_t i = 0; i < rules_node.size(); ++i)
      rules.push_back(read_rule(rules_node[i], m.at("rules") + "[" + std::to_string(i) + "]"));
    auto table = m.get("tiers");
    if (table && !table.IsNull()) {
      if (!table.IsMap()) fail(m.at("tiers"), "expected a mapping of label to models");
      check_keys(table, m.at("tiers"));
      for (const auto& kv : table) {
        const auto label = kv.first.as<std::string>();
        const auto path = m.at("tiers") + "." + label;
        bool used = false;
        for (auto& r : rules)
          if (r.label == label) {
            r.tier = static_cast<int>(tiers.size());
            used = true;
          }
        if (!used) fail(path, "no rule yields the label \"" + label + "\"");
        tiers.push_back({label, targets_of(kv.second, path, ctx)});
      }
    }
    auto default_node = m.get("default");
    if (!default_node) fail(m.at("default"), "is required");
    tiers.push_back({"default", targets_of(default_node, m.at("default"), ctx)});
    auto fallback_node = m.get("fallback");
    fallback = fallback_node && !fallback_node.IsNull()
                   ? targets_of(fallback_node, m.at("fallback"), ctx)
                   : tiers.back().targets;
    m.finish();
  });
  if (!ok) return config_error(std::move(error));
  return std::make_unique<const ClassifierStage>(std::move(rules), std::move(tiers),
                                                 std::move(fallback), min_confidence);
}

}  // namespace switchyard

#include "router/gates/gates.hpp"

#include "api/request.hpp"
#include "config/yaml_map.hpp"
#include "router/gates/json_schema.hpp"
#include "router/gates/learned.hpp"
#include "router/pattern.hpp"

#include <nlohmann/json.hpp>
#include <re2/re2.h>

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cmath>

namespace switchyard {

namespace {

using nlohmann::json;

// Refusals and non-answers at the start of an answer, in the phrasings models use most.
constexpr const char* kRefusal =
    R"((?i)^\W*(?:i['’]?m sorry|i am sorry|sorry, (?:but )?i|i apologi[sz]e|)"
    R"(i (?:cannot|can['’]?t|can not|am (?:not able|unable)|['’]?m (?:not able|unable)|)"
    R"(do(?:n['’]?t| not) know|won['’]?t be able)|as an ai\b))";

class FinishReasonGate final : public Gate {
 public:
  explicit FinishReasonGate(std::vector<std::string> fail_on) : fail_on_(std::move(fail_on)) {}
  std::string_view name() const override { return "finish_reason"; }
  std::string judge(const GateInput& in) const override {
    const std::string& r = in.answer.finish_reason;
    if (std::find(fail_on_.begin(), fail_on_.end(), r) == fail_on_.end()) return "";
    return "finish_reason " + r;
  }

 private:
  std::vector<std::string> fail_on_;
};

class PatternGate final : public Gate {
 public:
  // `must_match`: fail unless the text matches (regex); else fail when it does (refusal), on
  // the first `window` bytes.
  PatternGate(std::string_view name, std::unique_ptr<RE2> re, bool must_match, std::size_t window)
      : name_(name), re_(std::move(re)), must_match_(must_match), window_(window) {}
  std::string_view name() const override { return name_; }
  std::string judge(const GateInput& in) const override {
    const std::string_view text = std::string_view(in.answer.text).substr(0, window_);
    const bool matched = RE2::PartialMatch(text, *re_);
    if (matched == must_match_) return "";
    return must_match_ ? "no match" : "matched";
  }

 private:
  std::string_view name_;
  std::unique_ptr<RE2> re_;
  bool must_match_;
  std::size_t window_;
};

class LengthGate final : public Gate {
 public:
  LengthGate(std::size_t min, std::size_t max) : min_(min), max_(max) {}
  std::string_view name() const override { return "length"; }
  std::string judge(const GateInput& in) const override {
    const std::size_t n = in.answer.text.size();
    if (n < min_) return "shorter than min_chars";
    if (n > max_) return "longer than max_chars";
    return "";
  }

 private:
  std::size_t min_, max_;
};

class ContainsGate final : public Gate {
 public:
  explicit ContainsGate(std::vector<std::string> any) : any_(std::move(any)) {}
  std::string_view name() const override { return "contains"; }
  std::string judge(const GateInput& in) const override {
    for (const auto& s : any_)
      if (in.answer.text.find(s) != std::string::npos) return "";
    return "contains none";
  }

 private:
  std::vector<std::string> any_;
};

class JsonGate final : public Gate {
 public:
  std::string_view name() const override { return "json"; }
  std::string judge(const GateInput& in) const override {
    if (!in.request.prompt.json_output) return "";
    const json& req = in.request_json();
    const auto format = req.find("response_format");
    if (format == req.end() || !format->is_object()) return "";
    const auto type = format->find("type");
    const bool schema = type != format->end() && *type == "json_schema";
    if (!is_bounded_json(in.answer.text, 64)) return "not JSON";
    const json value = json::parse(in.answer.text, nullptr, false);
    if (value.is_discarded()) return "not JSON";
    if (!schema) return value.is_object() ? "" : "not a JSON object";
    const auto spec = format->find("json_schema");
    if (spec == format->end() || !spec->is_object() || !spec->contains("schema")) return "";
    std::string why;
    return conforms(value, (*spec)["schema"], why) ? "" : "schema: " + why;
  }
};

class ToolArgumentsGate final : public Gate {
 public:
  std::string_view name() const override { return "tool_arguments"; }
  std::string judge(const GateInput& in) const override {
    if (in.answer.tool_calls.empty()) return "";
    const json& req = in.request_json();
    const auto tools = req.find("tools");
    for (const auto& call : in.answer.tool_calls) {
      const json* parameters = nullptr;
      bool declared = false;
      if (tools != req.end() && tools->is_array())
        for (const json& t : *tools) {
          const auto f = t.find("function");
          if (f == t.end() || !f->is_object() || f->value("name", json()) != call.name) continue;
          declared = true;
          if (auto p = f->find("parameters"); p != f->end()) parameters = &*p;
          break;
        }
      if (!declared) return "unknown tool \"" + call.name + "\"";
      if (!is_bounded_json(call.arguments, 64)) return call.name + ": arguments are not JSON";
      const json args = json::parse(call.arguments, nullptr, false);
      if (args.is_discarded() || !args.is_object())
        return call.name + ": arguments are not a JSON object";
      std::string why;
      if (parameters && !conforms(args, *parameters, why)) return call.name + ": " + why;
    }
    return "";
  }
};

// Confidence from the answer's token logprobs: the geometric mean of its tokens' probabilities
// (e to the mean logprob), and the least likely token's.
class LogprobsGate final : public Gate {
 public:
  LogprobsGate(double min_mean, double min_token) : min_mean_(min_mean), min_token_(min_token) {}
  std::string_view name() const override { return "logprobs"; }
  std::string judge(const GateInput& in) const override {
    const auto& lp = in.answer.logprobs;
    if (lp.empty()) return "no logprobs";  // the upstream (or a recorded outcome) has none
    double sum = 0, least = 0;
    for (double x : lp) sum += x, least = std::min(least, x);
    const double mean = std::exp(sum / static_cast<double>(lp.size()));
    if (mean < min_mean_)
      return fmt::format("mean token probability {:.3f} below {}", mean, min_mean_);
    if (std::exp(least) < min_token_)
      return fmt::format("a token of probability {:.3f}, below {}", std::exp(least), min_token_);
    return "";
  }

 private:
  double min_mean_, min_token_;  // probabilities
};

std::vector<std::string> strings(const YAML::Node& n, const std::string& path) {
  std::vector<std::string> out;
  if (n.IsScalar()) {
    out.push_back(n.as<std::string>());
  } else if (n.IsSequence()) {
    for (std::size_t i = 0; i < n.size(); ++i) {
      if (!n[i].IsScalar()) fail(path + "[" + std::to_string(i) + "]", "expected a string");
      out.push_back(n[i].as<std::string>());
    }
  } else {
    fail(path, "expected a string or a list of strings");
  }
  if (out.empty()) fail(path, "must not be empty");
  return out;
}

class LearnedGate final : public Gate {
 public:
  LearnedGate(std::shared_ptr<const LearnedModel> model, double cost_weight)
      : model_(std::move(model)), cost_weight_(cost_weight) {}
  std::string_view name() const override { return "learned"; }
  std::string judge(const GateInput& in) const override {
    thread_local std::vector<Feature> x;
    escalation_features(in.request.prompt, in.answer, in.agreement, model_->space, x);
    const double gain = predicted_gain(*model_, x);
    if (gain <= cost_weight_) return "";
    return fmt::format("predicted gain {:.2f} above {:.2f}", gain, cost_weight_);
  }

 private:
  std::shared_ptr<const LearnedModel> model_;
  double cost_weight_;
};

// The answer is taken when its model is expected to be right: when the chance it is not
// (1 - the predicted quality), which is all a stronger tier could gain, is at most cost_weight,
// the learned gate's unit (what one escalation must buy).
class PredictedGate final : public Gate {
 public:
  explicit PredictedGate(double cost_weight) : cost_weight_(cost_weight) {}
  std::string_view name() const override { return "predicted"; }
  std::string judge(const GateInput& in) const override {
    if (std::isnan(in.predicted)) return "no prediction for the model";
    if (1 - in.predicted <= cost_weight_) return "";
    return fmt::format("predicted quality {:.2f} below {:.2f}", in.predicted, 1 - cost_weight_);
  }

 private:
  double cost_weight_;
};

}  // namespace

GateInput::GateInput(const ApiRequest& r, const Answer& a, double agreement, double predicted)
    : request(r), answer(a), agreement(agreement), predicted(predicted) {}
GateInput::~GateInput() = default;

const json& GateInput::request_json() const {
  // The request passed parse_api_request, so it is bounded JSON.
  if (!json_) json_ = std::make_unique<json>(json::parse(request.body, nullptr, false));
  return *json_;
}

std::vector<Finding> Gates::judge_each(const GateInput& in) const {
  std::vector<Finding> findings;
  findings.reserve(list.size() + 2);
  for (const auto& g : list) findings.push_back({g->name(), g->judge(in)});
  return findings;
}

bool Gates::undecided(const std::vector<Finding>& findings) const {
  const auto failed = [](const Finding& f) { return !f.why.empty(); };
  return any ? std::all_of(findings.begin(), findings.end(), failed)
             : std::none_of(findings.begin(), findings.end(), failed);
}

Finding Gates::verdict(std::vector<Finding> findings) const {
  Finding last;
  for (Finding& f : findings) {
    if (f.why.empty()) {
      if (any) return {};
      continue;
    }
    last = std::move(f);
    if (!any) return last;
  }
  return last;
}

Gates read_gates(const YAML::Node& node, const std::string& path, BuildContext& ctx) {
  Gates g;
  Map m(node, path);
  std::string mode = "all";
  m.opt("mode", mode);
  if (mode != "all" && mode != "any") fail(m.at("mode"), "must be all or any");
  g.any = mode == "any";
  if (auto n = m.get("finish_reason"); n && !n.IsNull())
    g.list.push_back(std::make_unique<FinishReasonGate>(strings(n, m.at("finish_reason"))));
  if (auto n = m.get("refusal"); n && !n.IsNull()) {
    std::string pattern = kRefusal;
    if (n.IsMap()) {
      Map rm(n, m.at("refusal"));
      std::vector<std::string> patterns;
      rm.req("patterns", patterns);
      rm.finish();
      if (patterns.empty()) fail(rm.at("patterns"), "must not be empty");
      pattern.clear();
      for (const auto& p : patterns) pattern += (pattern.empty() ? "(?:" : "|(?:") + p + ")";
    } else {
      bool on = false;
      m.opt("refusal", on);
      if (!on) pattern.clear();
    }
    if (!pattern.empty())
      g.list.push_back(std::make_unique<PatternGate>(
          "refusal", compile_pattern(pattern, m.at("refusal")), false, 300));
  }
  std::size_t min_chars = 0, max_chars = std::string::npos;
  m.opt("min_chars", min_chars);
  m.opt("max_chars", max_chars);
  if (max_chars < min_chars) fail(m.at("max_chars"), "must be at least min_chars");
  if (min_chars > 0 || max_chars != std::string::npos)
    g.list.push_back(std::make_unique<LengthGate>(min_chars, max_chars));
  if (auto n = m.get("contains"); n && !n.IsNull())
    g.list.push_back(std::make_unique<ContainsGate>(strings(n, m.at("contains"))));
  if (auto n = m.get("regex"); n && !n.IsNull()) {
    std::string pattern;
    m.req("regex", pattern);
    g.list.push_back(std::make_unique<PatternGate>(
        "regex", compile_pattern(pattern, m.at("regex")), true, std::string::npos));
  }
  bool on = false;
  if (m.opt("json", on); on) g.list.push_back(std::make_unique<JsonGate>());
  on = false;
  if (m.opt("tool_arguments", on); on) g.list.push_back(std::make_unique<ToolArgumentsGate>());
  if (auto n = m.get("logprobs"); n && !n.IsNull()) {
    Map lm(n, m.at("logprobs"));
    double min_mean = 0, min_token = 0;
    lm.opt("min_mean_prob", min_mean);
    lm.opt("min_token_prob", min_token);
    lm.finish();
    if (min_mean == 0 && min_token == 0)
      fail(m.at("logprobs"), "needs min_mean_prob or min_token_prob");
    if (min_mean > 1) fail(lm.at("min_mean_prob"), "must be a probability, 0 to 1");
    if (min_token > 1) fail(lm.at("min_token_prob"), "must be a probability, 0 to 1");
    g.list.push_back(std::make_unique<LogprobsGate>(min_mean, min_token));
    g.needs_logprobs = true;
  }
  if (auto n = m.get("agreement"); n && !n.IsNull()) {
    Map am(n, m.at("agreement"));
    double share = 1;
    am.opt("min_share", share);
    am.opt("samples", g.samples);
    am.finish();
    if (g.samples < 1 || g.samples > kMaxChoices)
      fail(am.at("samples"), "must be from 1 to " + std::to_string(kMaxChoices));
    if (!(share > 0 && share <= 1))
      fail(am.at("min_share"), "must be a share, above 0 and at most 1");
    g.agreement = share;
  }
  if (auto n = m.get("learned"); n && !n.IsNull()) {
    Map lm(n, m.at("learned"));
    std::string path;
    double cost_weight = 0;
    lm.req("model", path);
    lm.req("cost_weight", cost_weight);
    lm.finish();
    auto model = LearnedModel::load(path);
    if (!model) fail(lm.at("model"), model.error().message);
    if (!(*model)->escalation)
      fail(lm.at("model"), path + " is a router model (switchyard train --escalate writes one "
                                  "for this gate)");
    // Trained on a tier of several models, it reads how many agree: ask them all.
    if ((*model)->escalation->from.size() > 1 && !g.agreement) g.agreement = 0;
    g.list.push_back(std::make_unique<LearnedGate>(std::move(*model), cost_weight));
  }
  if (auto n = m.get("predicted"); n && !n.IsNull()) {
    Map pm(n, m.at("predicted"));
    double cost_weight = 0;
    pm.req("cost_weight", cost_weight);
    pm.finish();
    g.list.push_back(std::make_unique<PredictedGate>(cost_weight));
  }
  if (auto n = m.get("code"); n && !n.IsNull()) g.code = read_code_check(n, m.at("code"));
  if (auto n = m.get("similar"); n && !n.IsNull())
    g.similar = read_similar(n, m.at("similar"), ctx);
  if (auto n = m.get("judge"); n && !n.IsNull()) g.judge = read_judge(n, m.at("judge"), ctx);
  m.finish();
  if (g.list.empty() && !g.agreement && !g.code && !g.similar && !g.judge)
    fail(path, "names no gate");
  return g;
}

double predicted_quality(const Decision& decision, const ModelConfig* model) {
  for (const auto& p : decision.predictions)
    if (p.target->model == model) return p.quality;
  return std::numeric_limits<double>::quiet_NaN();
}

std::string agreement_key(const Answer& answer) {
  // "B", "(B)", "B) text", "B." or "42" alone on its line; "the answer is B".
  static const RE2 choice(R"(^\W*\(?([A-Za-z]|\d+)(?:[).:,]|[ \t]*(?:\n|$)))");
  static const RE2 stated(R"((?i)\banswer(?:\s+is)?\s*[:\s]\s*\(?([A-Za-z]|\d+)\b)");
  std::string key;
  if (RE2::PartialMatch(answer.text, choice, &key) ||
      RE2::PartialMatch(answer.text, stated, &key)) {
    for (char& c : key) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return key;
  }
  bool space = true;  // collapses runs and drops leading spaces
  for (char c : answer.text) {
    if (std::isspace(static_cast<unsigned char>(c))) {
      space = true;
      continue;
    }
    if (space && !key.empty()) key += ' ';
    space = false;
    key += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return key;
}

}  // namespace switchyard

// Quality gates: checks of an upstream's answer that a cascade runs before it commits the
// answer, escalating to the next tier when they fail. Configured per tier, as a mapping:
//
//   gates:
//     mode: all                  # optional: all must pass (default) or any one
//     finish_reason: [length, content_filter]   # these finish reasons fail
//     refusal: true              # or {patterns: ['(?i)^i cannot']}: a refusal or "I don't know"
//     min_chars: 1               # the answer's text, in bytes
//     max_chars: 4000
//     contains: ['```']          # any of these
//     regex: '(?i)answer:'       # RE2: linear time, no catastrophic backtracking
//     json: true                 # valid JSON when response_format asks for it, conforming to
//                                # its json_schema (OpenAI's strict subset; gates/json_schema.hpp)
//     tool_arguments: true       # tool calls name a declared tool, with conforming arguments
//     agreement: {min_share: 1}  # the tier's answers agree (after normalisation)
//                                # samples: 3 asks each model for 3 choices ("n") to compare
//     code: {command: [python3, -m, py_compile, "{file}"]}  # a validator (gates/code_check.hpp)
//     similar: {model: embed, references: [...]}  # as a known answer (gates/similar.hpp)
//     judge: {model: gpt-4o-mini, min_score: 7}  # another model grades it (gates/judge.hpp)
//     learned: {model: esc.swr, cost_weight: 0.2}  # escalation worth it (gates/learned.hpp)
//     predicted: {cost_weight: 0.1}  # the route's stages expect this model to be right
//                                # (predicted quality at least 1 - cost_weight: a learned
//                                # stage's, or a scorer's from feedback); fails when none did
//
// Gates are immutable, built with their route's dispatcher and shared by every worker. The
// listed gates do no I/O and never throw; the code validator (a process), the similarity check
// and the judge (calls) are the dispatcher's to run after them, in that order, each only while
// the verdict is still undecided.
#pragma once

#include "router/gates/answer.hpp"
#include "router/gates/code_check.hpp"
#include "router/gates/judge.hpp"
#include "router/gates/similar.hpp"

#include <nlohmann/json_fwd.hpp>
#include <yaml-cpp/yaml.h>

#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace switchyard {

// What a gate judges: one answer to one request. The request's body is parsed on first use by a
// gate that needs its response_format or tools, and kept for the others.
class GateInput {
 public:
  GateInput(const ApiRequest& request, const Answer& answer, double agreement = 1,
            double predicted = std::numeric_limits<double>::quiet_NaN());
  ~GateInput();
  const ApiRequest& request;
  const Answer& answer;
  double agreement;  // the share of the tier's answers that agree with this one
  double predicted;  // the stages' expected quality of the answer's model; NaN: none
  const nlohmann::json& request_json() const;

 private:
  mutable std::unique_ptr<nlohmann::json> json_;
};

class Gate {
 public:
  virtual ~Gate() = default;
  virtual std::string_view name() const = 0;
  // Empty when the answer passes; else why not, for the response header and the metrics.
  virtual std::string judge(const GateInput& in) const = 0;
};

// One gate's finding on an answer: `why` it fails, empty when it passes.
struct Finding {
  std::string_view gate;
  std::string why;
};

// The gates of one tier.
struct Gates {
  std::vector<std::unique_ptr<const Gate>> list;
  bool any = false;  // mode: any
  bool needs_logprobs = false;  // a gate reads token logprobs: ask the upstream for them
  // The share of the tier's answers that must agree; unset: the tier calls one model.
  std::optional<double> agreement;
  std::uint32_t samples = 1;  // choices asked of each model of the tier, for agreement
  std::optional<CodeCheck> code;
  std::optional<Similar> similar;
  std::optional<Judge> judge;

  // Each listed gate's finding on the answer, in list order.
  std::vector<Finding> judge_each(const GateInput& in) const;

  // Whether one more gate's finding can still change the verdict on `findings`: all passed
  // (mode all) or none did (mode any).
  bool undecided(const std::vector<Finding>& findings) const;

  // The deciding failure among the findings (judge_each's, then the code validator's and the
  // judge's when they ran): the first (mode all) or, when none passed, the last (mode any); an
  // empty gate when the answer passes.
  Finding verdict(std::vector<Finding> findings) const;
};

// Reads a `gates` mapping, resolving a judge's model through `ctx` and a code validator's
// command on PATH; throws ConfigFailure naming the path (call inside read_guarded).
Gates read_gates(const YAML::Node& node, const std::string& path, BuildContext& ctx);

// The quality the route's stages expected of `model`'s answer (its Decision::Prediction, which
// the last stage that predicted wrote: a learned stage, or a scorer from feedback and its
// prior), or NaN when none predicted it.
double predicted_quality(const Decision& decision, const ModelConfig* model);

// What an answer says, for agreement: the choice it picked (a letter or a number at its start,
// or after "answer is"), else its text lower-cased with spaces collapsed.
std::string agreement_key(const Answer& answer);

}  // namespace switchyard

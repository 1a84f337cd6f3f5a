// A judge: another model, asked by a call of its own to grade an answer (a cascade's gate) or to
// pick the best of several (a race's best_of). Configured as a mapping:
//
//   judge:
//     model: gpt-4o-mini   # the judge; its upstreams are tried in order until one answers
//     min_score: 7         # a graded answer passes at this score or above, of 10 (default 7)
//     rubric: "..."        # optional: the judge's instructions, replacing the default
//
// The judge sees the client's system text, its last user message and the answer (each cut to
// 16 KB), and answers with a number; asked for a pick, it sees every answer and names one. Its
// call is billed to the request like any other (ctx.attempts) and counted in the judge model's
// metrics and live statistics. A judge can be talked round by an answer that addresses it; it
// guards against weak answers, not hostile ones. The Judge is immutable and shared by every
// worker; its targets live as long as the snapshot.
#pragma once

#include "router/gates/answer.hpp"
#include "switchyard/extension.hpp"

#include <yaml-cpp/yaml.h>

#include <optional>
#include <string>
#include <vector>

namespace switchyard {

struct Judge {
  std::vector<const Target*> targets;  // the judge model's, in config order
  std::string rubric;                  // the grading instructions (its system message)
  double min_score = 7;                // of 10
};

// Reads a `judge` mapping, resolving its model through `ctx`; throws ConfigFailure naming the
// path (call inside read_guarded).
Judge read_judge(const YAML::Node& node, const std::string& path, BuildContext& ctx);

// Grades `answer` to the client's request: empty when it scores min_score or above, else why not
// ("score 4 of 10, below 7", or the judge's failure: a judge that cannot grade passes nothing).
// Cancelled with the request.
Task<std::string> judge_answer(RouteContext& ctx, const Judge& judge, const Answer& answer);

// Which of `answers` (two or more) the judge finds best; nullopt when it failed or named none.
// Cancelled with the request.
Task<std::optional<std::size_t>> judge_pick(RouteContext& ctx, const Judge& judge,
                                            const std::vector<const Answer*>& answers);

// The first number in `text` ("8", "Score: 7.5/10"), if any: how a judge's reply is read.
std::optional<double> first_number(std::string_view text);

}  // namespace switchyard

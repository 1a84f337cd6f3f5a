// `switchyard eval`: how well a configured route trades quality for cost, measured offline on an
// outcomes file (dataset/outcomes.hpp) by replaying the route's own stages and dispatcher
// (offline/replay.hpp), against the baselines every router is judged by: each single model,
// uniform random choice and the oracle. Figures follow RouterBench (AIQ, the cost to reach a
// share of the best single model's quality) and, for a strong/weak pair, RouteLLM (APGR, CPT),
// each with a 95% bootstrap interval over prompts.
#pragma once

#include "offline/metrics.hpp"
#include "offline/train.hpp"
#include "switchyard/config.hpp"
#include "switchyard/error.hpp"

#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace switchyard::offline {

struct EvalOptions {
  Config config;                  // already loaded and validated
  std::string route = "auto";
  std::string data;               // the outcomes file
  std::string split;              // its lines to evaluate ("test"; empty: all)
  std::vector<std::pair<std::string, std::string>> aliases;  // file model → configured name
  std::string strong, weak;       // both or neither: RouteLLM's pair
  // The values the route's cost knob (every `cost_weight` in its chain) takes; empty: a default
  // logarithmic grid. Ignored when the route has no knob.
  std::vector<double> grid;
  // Train the route's `learned` stages first: on this outcomes file (transfer), or, with `cv`
  // folds, on the other folds of the evaluated prompts.
  std::string train_data, train_split;
  std::uint32_t cv = 0;
  TrainOptions train;
  std::uint32_t bootstrap = 200;  // resamples for the intervals
  std::uint64_t seed = 1;
  bool progress = false;          // a progress line on stderr
};

// A figure with its 95% bootstrap interval over prompts; NaN when it is undefined.
struct Figure {
  std::string name;  // e.g. "route.aiq", "single.gpt-4.cost"
  Interval value;
};

struct EvalReport {
  std::string route;
  std::size_t prompts = 0;          // evaluated: those with an answer of every model considered
  std::size_t skipped = 0;          // lacking one
  std::vector<std::string> models;  // considered, as the file names them
  std::vector<std::string> left_out;  // configured models the file lacks (after aliasing)
  // Of the route as configured, over every prompt: calls the file could not answer as asked
  // (a judge's), calls asking for logprobs, which it does not record, and calls asking for several
  // choices, of which it records one (PromptResult).
  std::size_t unrecorded_calls = 0, logprob_calls = 0, sampled_calls = 0;
  std::size_t unanswered = 0;  // prompts the route as configured committed no answer to
  std::string best_model;           // the best single model, the reference of the cost shares
  bool swept = false;               // the route has a cost knob
  std::vector<double> grid;         // the knob's values, if swept
  std::vector<Point> curve;         // the route at each knob value
  std::vector<double> strong_share;  // with strong/weak: its share of strong answers there
  Point configured;                 // the route as configured
  Point oracle;
  std::vector<Point> oracle_curve;  // the oracle trading quality for cost
  std::vector<std::pair<std::string, Point>> singles;
  Point random;
  std::vector<Figure> figures;
};

// --cv's folds: `k` (at least 1) lists of indices into `prompts` (which the caller owns),
// shuffled by `seed` and dealt in turn, except that prompts with the same messages share a
// fold, so that a prompt asked twice (a retry in a decision log, a question a benchmark repeats)
// is never both trained on and evaluated. Every index is in exactly one fold.
std::vector<std::vector<std::size_t>> cv_folds(std::span<const OutcomeRecord* const> prompts,
                                               std::size_t k, std::uint64_t seed);

// Replays the route and computes every figure. Errors: the file cannot be read, the route does
// not exist or uses no model the file has, an alias or the strong/weak pair names an unknown
// model, or a knob value makes the configuration invalid.
Result<EvalReport> evaluate(const EvalOptions& options);

// The command line: `switchyard eval --config FILE --data FILE[:split] [options]` (argv after
// "eval"; without --config, a learned route over the file's models, trained by --train or --cv).
// Prints the report; returns the process's exit code.
int eval_main(int argc, char** argv);

}  // namespace switchyard::offline

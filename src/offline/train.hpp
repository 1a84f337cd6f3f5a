// `switchyard train`: learns a router model (router/learned/model.hpp) from an outcomes file:
// for every model in the file, the expected quality of its answer and its expected output
// tokens, from the prompt's text alone (router/classify/features.hpp; never a task label).
//
// The learner is written here rather than taken from a library: it is two small linear models
// per LLM (soft-label logistic regression for quality, which fits both 0/1 correctness and
// graded quality, and least squares on log tokens) trained jointly by AdaGrad over hashed
// sparse features, about a hundred lines. Debian's liblinear does no soft-label logistic
// regression and would need a copy of the feature matrix per model; XGBoost and Eigen bring far
// more than this needs.
#pragma once

#include "dataset/outcomes.hpp"
#include "router/learned/model.hpp"

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace switchyard::offline {

struct TrainOptions {
  // Chosen by 5-fold cross-validation on routerbench.jsonl's train split (docs/evaluation.md).
  FeatureSpace space{.hash_bits = 14, .char_ngrams = 0};
  std::uint32_t epochs = 10;
  double learning_rate = 0.05;
  double l2 = 1e-6;
  double holdout = 0.2;  // the share of prompts held back to calibrate cost targets
  std::uint64_t seed = 1;
};

// The cost_weight values train calibrates targets on and eval sweeps by default: 0, then 33
// values from 10^-3 to 10 on a log scale.
std::vector<double> cost_weight_grid();

// The most models one router learns.
constexpr std::size_t kMaxTrainedModels = 64;

// Whether a model that answered `answered` of the prompts, where the most answered one answered
// `most`, has been seen enough to stand for its quality: at least half as many. A model seen on a
// handful of prompts scores by luck.
constexpr bool answered_enough(double answered, double most) { return 2 * answered >= most; }

// The models of a file to train on, each as the name the trained model gives it (a route's
// configured name, where eval aliases one) and its index in OutcomeFile::models. Empty: every
// model of the file, under its own name.
using ModelPicks = std::vector<std::pair<std::string, int>>;

// Trains on `records` (lines of `file`), for the `picks` models. Fails when there are fewer than
// 10 prompts or more than 64 models, or a model has no outcome in them. The strongest model (the
// cost reference) is the best on average among those answered_enough().
Result<LearnedModel> train_router(const OutcomeFile& file,
                                  std::span<const OutcomeRecord* const> records,
                                  const TrainOptions& options, std::string trained_on,
                                  const ModelPicks& picks = {});

// Trains an escalation model (router/learned/model.hpp) for a learned gate: on every record
// with answers of each of `escalation.from` and of `escalation.to`, the quality gained by
// escalating, from the prompt and the answer a cascade of the `from` tier would judge. The
// escalation's models are looked up by name in `picks`, then among the file's names.
// Fails when a model is not found or fewer than 10 records have all the answers.
Result<LearnedModel> train_escalation(const OutcomeFile& file,
                                      std::span<const OutcomeRecord* const> records,
                                      Escalation escalation, const TrainOptions& options,
                                      std::string trained_on, const ModelPicks& picks = {});

// The command line: `switchyard train --data FILE[:split] --out MODEL [options]` (argv after
// "train"). Returns the process's exit code.
int train_main(int argc, char** argv);

// A training option on a command line (--hash-bits, --char-ngrams, --epochs, --learning-rate,
// --l2, --seed), shared by train and eval; `value` reads the flag's value. kTrainFlagsHelp documents them.
enum class TrainFlag : std::uint8_t { read, bad, unknown };
TrainFlag train_flag(const std::string& flag, const std::function<std::string()>& value,
                     TrainOptions& options);
extern const char* const kTrainFlagsHelp;

// "FILE:split" → {FILE, split}, unless what follows the last ':' is a path; for --data.
std::pair<std::string, std::string> file_and_split(const std::string& arg);

}  // namespace switchyard::offline

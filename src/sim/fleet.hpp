// The simulated fleet: per-model price, latency and error profiles, episodes, and (optionally)
// real recorded outcomes to replay. Loaded once at start; immutable afterwards except for the
// per-model in-flight counters, which are atomic.
#pragma once

#include "dataset/outcomes.hpp"
#include "switchyard/config.hpp"
#include "switchyard/error.hpp"

#include <atomic>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace switchyard::sim {

// A log-normal distribution given by its median and the sigma of the underlying normal:
// X = median * exp(sigma * Z). Mean = median * exp(sigma^2 / 2).
struct LogNormal {
  double median = 0;
  double sigma = 0;
  double sample(std::mt19937_64& rng) const;
  double mean() const;
};

// A scheduled incident, in simulated seconds after the sim started.
struct Episode {
  enum class Kind { latency_spike, outage, error_burst } kind = Kind::latency_spike;
  double start_s = 0, end_s = 0;
  double factor = 1;      // latency_spike: multiplies time to first token and token time
  double error_rate = 1;  // error_burst: probability of a 500
};

struct SimModel {
  std::string name;
  bool embedding = false;
  std::uint32_t dims = 256;  // embedding models
  PriceUsdPerMtok price;
  LogNormal ttft_ms{250, 0.3};
  LogNormal tokens_per_s{80, 0.2};
  LogNormal output_tokens{48, 0.5};  // generated answers' length
  double error_rate = 0;
  // A tail of slow answers: this share of requests is `slow_factor` times slower throughout
  // (a busy replica, a cold cache), which hedging is for.
  double slow_share = 0, slow_factor = 10;
  std::uint32_t max_concurrent = 1024;
  double skill = 0.7;  // mean quality on prompts that are not in a dataset (and of no kind)
  // Mean quality on prompts of a kind (Fleet::kinds), where it differs from `skill`.
  std::vector<std::pair<std::string, double>> skill_by_kind;
  std::vector<Episode> episodes;
  mutable std::atomic<std::uint32_t> in_flight{0};

  double skill_for(std::string_view kind) const;

  // The episode in force at `sim_seconds`, if any, of the given kind.
  const Episode* episode(Episode::Kind kind, double sim_seconds) const;
};

struct DatasetEntry {
  std::string id;
  std::string split;
  std::unordered_map<std::string, Outcome> outcomes;
};

// Prompts of a dataset, keyed by the text of their last user message. A prompt that appears
// twice keeps its first entry; load only one split to replay that split exactly.
class Dataset {
 public:
  // Reads an outcomes file (dataset/outcomes.hpp); `split` empty loads every line. Errors name
  // the file and line.
  static Result<std::shared_ptr<const Dataset>> load(const std::string& path,
                                                     const std::string& split);
  const DatasetEntry* find(std::string_view prompt) const;
  const std::vector<std::string>& models() const { return models_; }
  std::size_t size() const { return by_prompt_.size(); }

 private:
  std::unordered_map<std::string, DatasetEntry> by_prompt_;
  std::vector<std::string> models_;  // every model seen, in first-seen order
};

// A kind of prompt (code, reasoning, ...), which the sim recognises by a keyword in its text:
// a whole word, or words, ignoring ASCII case.
struct PromptKind {
  std::string name;
  std::vector<std::string> keywords;  // lower case
};

class Fleet {
 public:
  std::vector<PromptKind> kinds;  // the first that matches is the prompt's kind
  double time_scale = 1.0;  // multiplies every delay and episode time
  // Serve any model name (with the default profile) instead of 404: the tests' fake upstream.
  bool open = false;
  std::vector<std::unique_ptr<SimModel>> models;
  std::shared_ptr<const Dataset> dataset;
  SimModel default_model;

  const SimModel* find(std::string_view name) const;
  // The name of the first kind with a keyword in `prompt`; empty if none.
  std::string_view kind_of(std::string_view prompt) const;
};

// Strict YAML (unknown key = error naming its path). See config/sim-fleet.yaml.
Result<std::unique_ptr<Fleet>> load_fleet(const std::string& path);

// A fleet that serves any model instantly with the default profile.
std::unique_ptr<Fleet> open_fleet();

// Adds every dataset model the fleet lacks, with price and latency from a models.json catalogue
// (the format of ../shared/data/models.json), if given.
Result<void> add_dataset_models(Fleet& fleet, const std::string& models_json_path);

}  // namespace switchyard::sim

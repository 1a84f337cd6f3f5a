// A trained router model: for every model it was trained on, the expected quality of that
// model's answer to a prompt (a logistic function of hashed_features()) and its expected output
// tokens (exp of a linear one, less one), plus what a route needs to trade quality for cost.
// An escalation model (`escalation` set) is the same file for a learned gate
// (router/gates/learned.hpp): one "model", the stronger tier, whose quality head gives the logit
// of (1 + the quality gained by escalating) / 2 from the prompt and the cheaper tier's answer.
// Written by `switchyard train` (offline/train.hpp), loaded when a config that names it is
// loaded, and immutable afterwards: shared by every worker and request of the snapshots that
// use it.
//
// File: the bytes "SWYROUTR", a u32 format version, a u64 length and that many bytes of JSON
// metadata, then a u64-counted array of little-endian f32 weights laid out [feature][head][model]
// (head 0: quality, 1: tokens), so that one feature's weights for every model and both heads are
// adjacent in memory. Anything else (another version, a short or long file) is refused.
#pragma once

#include "router/classify/features.hpp"
#include "switchyard/error.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace switchyard {

// On held-back prompts, what routing with one cost_weight did: the share of prompts sent to
// the strongest model, and the cost as a share of always sending them there.
struct Calibration {
  double cost_weight = 0;
  double strongest_share = 0;
  double cost_share = 0;
};

// What an escalation model was trained for: answers of the `from` tier (the first of the
// largest group that agree, as the cascade picks) against `to`'s answer to the same prompt.
struct Escalation {
  std::vector<std::string> from;
  std::string to;
  // Dense answer features past the prompt's (router/gates/learned.hpp).
  static constexpr std::uint32_t kDenseFeatures = 6;
};

struct LearnedModel {
  static constexpr std::uint32_t kVersion = 1;

  FeatureSpace space;  // how the prompt was hashed, which its input must be too
  std::vector<std::string> models;  // as the training file names them (or eval's --alias)
  std::vector<double> mean_quality;  // per model, on the training prompts
  std::vector<double> mean_cost;     // per model: recorded USD per prompt
  std::uint32_t strongest = 0;       // of best mean quality, of those answered enough (train)
  // The unit of cost in cost_weight: the strongest model's mean cost. So a cost_weight of 1
  // gives up all of a prompt's quality to save what the strongest model costs on average.
  double reference_cost = 0;
  std::vector<Calibration> calibration;  // by increasing cost_weight
  std::string trained_on;                // "file:split (N prompts)", for people
  // [feature][head][model]: head 0 gives the logit of the expected quality, head 1
  // log(1 + expected output tokens).
  std::vector<float> weights;
  std::optional<Escalation> escalation;  // set: an escalation model, not a router

  std::uint32_t features() const {
    return (1u << space.hash_bits) + kDenseFeatures +
           (escalation ? Escalation::kDenseFeatures : 0);
  }
  // The weight of `model` in `head` for `feature`.
  std::size_t at(std::uint32_t feature, std::size_t head, std::size_t model) const {
    return (std::size_t{feature} * 2 + head) * models.size() + model;
  }
  int model_index(std::string_view name) const;  // -1 if not trained on

  // The expected quality (0..1) and output tokens (0..2^20) of every model for the prompt `x`;
  // both spans have models.size() elements. No allocation.
  void predict(std::span<const Feature> x, std::span<double> quality_out,
               std::span<double> tokens_out) const;

  // The smallest calibrated cost_weight whose strongest share (or cost share) is at most
  // `share`, interpolated between calibration points; the largest calibrated weight if none is.
  double weight_for_strongest_share(double share) const;
  double weight_for_cost_share(double share) const;

  Result<void> save(const std::string& path) const;
  // Errors name the path: unreadable, not a model file, another version, truncated,
  // inconsistent metadata (a mean quality outside [0, 1], a cost below 0 …), or a weight that
  // is not a number or is 1e6 or more in size, which no training writes.
  static Result<std::shared_ptr<const LearnedModel>> load(const std::string& path);
};

}  // namespace switchyard

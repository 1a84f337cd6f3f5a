#include "router/gates/learned.hpp"

#include "router/gates/gates.hpp"

#include <cmath>
#include <string_view>

namespace switchyard {

void escalation_features(const PromptInfo& prompt, const Answer& answer, double agreement,
                         FeatureSpace space, std::vector<Feature>& out) {
  hashed_features(prompt, prompt_features(prompt), space, out);
  // The first 4 KB say what the answer is; the rest would cost time and say little more.
  const std::string_view text = std::string_view(answer.text).substr(0, 4096);
  append_hashed_words(text, 0x85ebca6bu, space.hash_bits, out);
  const std::uint32_t base = (1u << space.hash_bits) + kDenseFeatures;
  auto dense = [&](std::uint32_t i, double v) {
    out.push_back({base + i, static_cast<float>(v)});
  };
  const std::string key = agreement_key(answer);
  dense(0, std::log1p(static_cast<double>(answer.text.size())) / 8);
  dense(1, answer.finish_reason == "length");
  dense(2, agreement);
  dense(3, !key.empty() && key.size() <= 3);  // a choice letter or a short number
  dense(4, answer.text.empty());
  dense(5, text.find("```") != std::string_view::npos);
  static_assert(Escalation::kDenseFeatures == 6);
}

double predicted_gain(const LearnedModel& model, const std::vector<Feature>& x) {
  double quality = 0, tokens = 0;
  model.predict(x, std::span(&quality, 1), std::span(&tokens, 1));
  return 2 * quality - 1;
}

}  // namespace switchyard

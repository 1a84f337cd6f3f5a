// A router model file as the config loader reads it (LearnedModel::load: `switchyard train`'s
// output, named by a `learned` stage or gate and read again on every reload), then, if it loads,
// a prediction with it. A damaged file is refused with a reason; one that loads predicts a
// quality in [0, 1] and a finite token count for every model. Nothing may crash or hang.
//
// The input is the file's bytes; each is written to one temporary file, as load reads a path.
#include "fuzz.hpp"
#include "router/classify/features.hpp"
#include "router/learned/model.hpp"

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace {

using fuzz::check;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace switchyard;
  const std::string& path = fuzz::write_input(".swr", data, size);
  auto model = LearnedModel::load(path);
  if (!model) {
    check(model.error().message.starts_with(path + ": "));  // a refusal names the file
    return 0;
  }
  PromptInfo prompt;
  prompt.text = "Write a Python function that returns the sum of a list. ```python\nx = 1\n```";
  prompt.system = "You are a careful assistant.";
  prompt.messages = 2;
  prompt.user_turns = 1;
  prompt.chars = prompt.text.size() + prompt.system.size();
  std::vector<Feature> x;
  hashed_features(prompt, prompt_features(prompt), (*model)->space, x);
  const std::size_t n = (*model)->models.size();
  std::vector<double> quality(n), tokens(n);
  (*model)->predict(x, quality, tokens);
  for (std::size_t i = 0; i < n; ++i) {
    check(quality[i] >= 0 && quality[i] <= 1);
    check(tokens[i] >= 0 && std::isfinite(tokens[i]));
  }
  (void)(*model)->weight_for_strongest_share(0.2);
  (void)(*model)->weight_for_cost_share(0.3);
  return 0;
}

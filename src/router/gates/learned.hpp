// A learned escalation gate: from the prompt and the cheaper tier's answer, a model that
// `switchyard train --escalate FROM=TO` wrote predicts how much quality escalating to TO would
// gain, and the answer fails when that gain is worth its cost. Configured in a tier's gates:
//
//   learned:
//     model: models/yi-to-gpt4.swr   # an escalation model; loaded with the config
//     cost_weight: 0.2               # escalate when the predicted gain exceeds this
//
// The gain is on the training file's quality scale (-1 to 1), and cost_weight is what one
// escalation must buy, in quality per the stronger model's mean cost: the unit the learned
// stage's cost_weight uses, so `switchyard eval` sweeps both alike. The answer's signals are its
// hashed words, its length, its finish reason, whether it names a choice, whether it holds a code
// fence, and the share of the tier's answers that agree with it (a model trained on several FROM
// models makes its tier ask them all, as an agreement gate does). The gate is immutable, shared
// by every worker; it does no I/O.
#pragma once

#include "router/gates/answer.hpp"
#include "router/learned/model.hpp"

#include <memory>
#include <vector>

namespace switchyard {

// What the gate reads: the prompt's features (hashed_features) then the answer's, in the
// model's feature space. `agreement`: the share of the tier's answers that agree with this one.
// `out` is cleared and reused.
void escalation_features(const PromptInfo& prompt, const Answer& answer, double agreement,
                         FeatureSpace space, std::vector<Feature>& out);

// The predicted quality gain of escalating, -1 to 1.
double predicted_gain(const LearnedModel& model, const std::vector<Feature>& x);

}  // namespace switchyard

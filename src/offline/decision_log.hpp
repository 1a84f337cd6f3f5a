// Reading the gateway's decision log (server/decision_log.hpp) back: each request's decision
// line joined with its feedback by request_id. For `switchyard eval --log` (A/B arms compared,
// a shadow bandit's regret) and `switchyard train --log` (a router learned from live traffic).
#pragma once

#include "dataset/outcomes.hpp"
#include "offline/metrics.hpp"
#include "switchyard/error.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace switchyard::offline {

struct LoggedRequest {
  std::string request_id, client, route, experiment, model, label;
  std::string prompt, system;  // when the log has prompts
  int status = 0;
  double cost_usd = 0;
  double latency_ms = 0;
  std::uint64_t output_tokens = 0;
  std::optional<double> score;  // its feedback, if any
  std::string bandit_model;     // what a bandit stage chose (or would have, in shadow mode)
  bool bandit_shadow = false;
};

// Reads `paths` in order (rotated files oldest first, as the caller lists them). A line that is
// not a JSON object with a string `type` is an error "path:line: …"; lines of other types are
// skipped, as are feedback lines whose request has no decision line in the files or whose score
// is not a number from 0 to 1. A field of the wrong type or out of range (a status not from 0
// to 999, a negative cost) reads as absent.
Result<std::vector<LoggedRequest>> load_decision_log(const std::vector<std::string>& paths);

// The requests that have a prompt and a feedback score and were answered, as an outcomes file
// with one outcome each (the model that answered: the score as its quality), for train_router.
// An error when none has a prompt (the log was written without decision_log.prompts).
Result<OutcomeFile> log_outcomes(const std::vector<LoggedRequest>& requests);

// One arm of an experiment (or one route when the log has no experiment), over its requests.
struct ArmReport {
  std::string experiment, route;
  std::size_t requests = 0, failed = 0, rated = 0;
  Interval score;         // the mean feedback score, over rated requests
  Interval cost_usd;      // the mean cost per request
  double latency_p50_ms = 0, latency_p95_ms = 0;
  Interval score_vs_control;  // the difference in mean score with the control arm; 0 for it
  Interval cost_vs_control;
};

// A bandit stage's choices against what was served, where feedback tells their worth: each
// model's mean score under each label, from the log's feedback.
struct BanditReport {
  std::size_t decisions = 0;   // requests with a bandit choice
  std::size_t shadow = 0;      // of them, in shadow mode
  std::size_t agreed = 0;      // its choice was the model served
  std::size_t valued = 0;      // both the choice and the best model had feedback under the label
  double served_regret = 0;    // mean over valued: best model's mean score − the served one's
  double bandit_regret = 0;    // the same for the bandit's choice
};

struct LogReport {
  std::vector<ArmReport> arms;
  BanditReport bandit;
};

// Every figure, with 95% bootstrap intervals over requests (`resamples` of them).
LogReport report_log(const std::vector<LoggedRequest>& requests, std::uint32_t resamples,
                     std::uint64_t seed);

// `switchyard eval --log FILE [--log FILE…] [--json] [--bootstrap N]`: prints the report.
int eval_log_main(int argc, char** argv);

}  // namespace switchyard::offline

// Replays one route of a built configuration over the prompts of an outcomes file, in process:
// the route's real stages and dispatcher run against in-memory upstreams that answer each call
// with the file's recorded answer of the model asked. No sockets, no clock waits. Every call the
// dispatcher makes is charged the recorded cost, so a strategy that calls several models pays
// for each.
#pragma once

#include "dataset/outcomes.hpp"
#include "router/snapshot.hpp"

#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace switchyard::offline {

// What one prompt cost and earned under the route.
struct PromptResult {
  double cost = 0;       // the recorded cost of every call made, in USD
  double quality = 0;    // the recorded quality of the answer committed; 0 if none was
  int chosen = -1;       // the file's index of the model whose answer was committed; -1: none
  std::uint32_t calls = 0;
  // Calls the file cannot answer as asked: a request other than the prompt (a judge's), which
  // fails as a down upstream would and costs nothing; one asking for token logprobs, which no
  // recorded answer has; one asking for several choices ("n"), of which the file has one.
  std::uint32_t unrecorded = 0;
  std::uint32_t logprobs_asked = 0;
  std::uint32_t choices_asked = 0;
};

// Runs `route` of `snapshot` for one prompt at a time. `model_of_name` maps each model name of
// the configuration that the file has (after aliasing) to its index in OutcomeFile::models;
// candidates the stages pick outside it are dropped before the dispatcher runs, as if not
// configured. The replayer shares the snapshot; each record must outlive its run(). Not
// thread-safe: one replayer per thread.
class Replayer {
 public:
  Replayer(std::shared_ptr<const Snapshot> snapshot, std::string route,
           const std::unordered_map<std::string, int>& model_of_name);
  ~Replayer();
  Replayer(const Replayer&) = delete;
  Replayer& operator=(const Replayer&) = delete;

  PromptResult run(const OutcomeRecord& record);

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace switchyard::offline

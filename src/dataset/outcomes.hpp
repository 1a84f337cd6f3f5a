// Outcomes files: real per-prompt answers of several models, with their quality and cost, one
// JSON object per line (the format of ../shared/data, described in its README):
//
//   {"id": "...", "split": "train", "messages": [{"role": "user", "content": "..."}],
//    "outcomes": {"model-a": {"quality": 1.0, "cost_usd": 0.0048, "output_tokens": 2,
//                             "response": "A"}, ...}}
//
// Read by the simulator (to replay recorded answers) and by `switchyard eval` and `train`. A file
// may name any models, and a line may lack some of them. Loaded once, then immutable.
#pragma once

#include "switchyard/error.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace switchyard {

// The most output tokens a recorded answer counts (a larger count is read as this).
inline constexpr std::uint32_t kMaxOutputTokens = 1u << 20;

// One model's recorded answer to one prompt.
struct Outcome {
  double quality = 0;  // in [0, 1], higher is better
  double cost_usd = 0;
  std::uint32_t output_tokens = 0;
  std::string response;
};

// One line: a prompt and the answers recorded for it.
struct OutcomeRecord {
  std::string id;
  std::string split;
  std::string messages;  // the "messages" array, as compact JSON
  std::string prompt;    // the last message's content
  std::vector<std::optional<Outcome>> outcomes;  // by index into OutcomeFile::models
};

struct OutcomeFile {
  // Every model the kept lines name, in the order first seen (within a line, by name).
  std::vector<std::string> models;
  std::vector<OutcomeRecord> records;  // in file order

  // The index of `model` in `models`, or -1.
  int model_index(std::string_view model) const;
};

// Reads the lines of `path` whose split is one of `splits` (comma-separated, e.g.
// "train,validation"; empty: every line). A line that is not an object, has no non-empty
// `messages` list ending in a message with string content, is nested more than 64 levels deep,
// or has an outcome without a numeric `quality` in [0, 1], or with a cost_usd or output_tokens
// that is not a number at least 0, is an error "path:line: what is wrong", as is a file with
// no line kept. cost_usd and
// output_tokens absent or null are 0 (output_tokens is rounded), response absent is "". Blank
// lines are skipped; a line may end in CR.
Result<OutcomeFile> load_outcomes(const std::string& path, std::string_view splits = {});

}  // namespace switchyard

// What a quality gate reads of an upstream's answer: its text, finish reason, tool calls and
// token logprobs, read once from a complete chat (or legacy completions) body or assembled from
// a buffered stream's events. Built by a dispatcher that judges answers before committing one
// (cascade); it parses the answer into a DOM, which only such dispatchers pay for.
#pragma once

#include "switchyard/router.hpp"

#include <string>
#include <vector>

namespace switchyard {

struct Answer {
  struct ToolCall {
    std::string name;
    std::string arguments;  // as the model wrote them: JSON text, maybe not valid
  };
  bool readable = false;      // a 2xx with a choice the gates could read
  std::string text;           // the first choice's content (message, or text for completions)
  std::string finish_reason;  // the first choice's; empty if none was given
  std::vector<ToolCall> tool_calls;
  std::vector<double> logprobs;  // per output token, when the upstream sent them
};

// Reads `result` (an answered call: a JSON body, or `events` when it was a buffered stream):
// its first choice. Never throws; an answer it cannot read comes back with readable = false.
Answer read_answer(const CallResult& result);

// Every choice of `result`, by index (at most kMaxChoices; a choice index past them is not read).
// At least one element, unreadable when the answer is.
inline constexpr std::size_t kMaxChoices = 16;
std::vector<Answer> read_answers(const CallResult& result);

}  // namespace switchyard

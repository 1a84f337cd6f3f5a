#include "router/gates/answer.hpp"

#include "api/request.hpp"

#include <nlohmann/json.hpp>

namespace switchyard {

namespace {

using nlohmann::json;

const json* member(const json& j, const char* key) {
  if (!j.is_object()) return nullptr;
  auto it = j.find(key);
  return it == j.end() || it->is_null() ? nullptr : &*it;
}

std::string string_of(const json* j) { return j && j->is_string() ? j->get<std::string>() : ""; }

// Adds what one choice (a message, or a stream's delta) says to `a`.
void add_choice(const json& choice, Answer& a) {
  a.readable = true;
  for (const char* part : {"message", "delta"})
    if (const json* m = member(choice, part)) {
      a.text += string_of(member(*m, "content"));
      if (const json* calls = member(*m, "tool_calls"); calls && calls->is_array())
        for (const json& c : *calls) {
          const json* f = member(c, "function");
          if (!f) continue;
          // A stream sends a call's name once and its arguments in pieces, by index.
          const json* index = member(c, "index");
          const std::size_t i = index && index->is_number_unsigned() ? index->get<std::size_t>()
                                                                    : a.tool_calls.size();
          if (i >= 128) continue;
          if (a.tool_calls.size() <= i) a.tool_calls.resize(i + 1);
          a.tool_calls[i].name += string_of(member(*f, "name"));
          a.tool_calls[i].arguments += string_of(member(*f, "arguments"));
        }
    }
  a.text += string_of(member(choice, "text"));  // legacy completions
  if (const json* reason = member(choice, "finish_reason"); reason && reason->is_string())
    a.finish_reason = reason->get<std::string>();
  if (const json* lp = member(choice, "logprobs"))
    if (const json* content = member(*lp, "content"); content && content->is_array())
      for (const json& token : *content)
        if (const json* v = member(token, "logprob"); v && v->is_number())
          a.logprobs.push_back(v->get<double>());
}

// Adds what `body` says of each choice to its answer, growing `answers` to the highest index.
void add_body(std::string_view body, std::vector<Answer>& answers) {
  if (!is_bounded_json(body, 64)) return;  // a DOM of deeper nesting could exhaust the stack
  json j = json::parse(body, nullptr, false);
  const json* choices = member(j, "choices");
  if (!choices || !choices->is_array()) return;
  for (const json& c : *choices) {
    const json* index = member(c, "index");
    std::size_t i = 0;
    if (index) {
      if (!index->is_number_unsigned() || index->get<std::size_t>() >= kMaxChoices) continue;
      i = index->get<std::size_t>();
    }
    if (answers.size() <= i) answers.resize(i + 1);
    add_choice(c, answers[i]);
  }
}

}  // namespace

std::vector<Answer> read_answers(const CallResult& result) {
  std::vector<Answer> answers(1);
  if (!result.ok() || result.reply.status < 200 || result.reply.status >= 300) return answers;
  if (result.events.empty()) {
    add_body(result.reply.body, answers);
    return answers;
  }
  for (std::string_view event : result.events) {
    if (!event.starts_with("data: ")) continue;
    event.remove_prefix(6);
    while (!event.empty() && (event.back() == '\n' || event.back() == '\r')) event.remove_suffix(1);
    if (event == "[DONE]") continue;
    add_body(event, answers);
  }
  return answers;
}

Answer read_answer(const CallResult& result) { return std::move(read_answers(result).front()); }

}  // namespace switchyard

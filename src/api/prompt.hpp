// What a request's prompt says, read by one rule wherever it is needed (the router's stages, the
// gateway's access log, the simulator): PromptInfo in switchyard/router.hpp. For chat, the text
// is the content of the last message whose role is "user" (a string, or the text of its
// {"type":"text"} parts, concatenated); for completions, the prompt; for embeddings, the input.
// A prompt or input that is an array of strings gives those strings joined by "\n". Anything
// else (token ids, a wrong type, no such member) has no text: it is empty.
#pragma once

#include "switchyard/router.hpp"

#include <cstdint>
#include <string>
#include <string_view>

namespace switchyard {

// Reads the prompt out of the events of a JSON SAX parse of a request body, so that a parse the
// caller makes anyway (parse_api_request's) reads it too: one pass, constant stack, no DOM, and
// only the strings that may be prompt text are kept (moved, not copied). Feed it every key,
// string and container start and end, in order; numbers, booleans and nulls do not matter to
// it. One reader per body; not thread-safe.
class PromptReader {
 public:
  explicit PromptReader(Endpoint endpoint)
      : chat_(endpoint == Endpoint::chat_completions),
        input_key_(endpoint == Endpoint::chat_completions ? "messages"
                   : endpoint == Endpoint::completions    ? "prompt"
                                                          : "input") {}

  void key(std::string_view key);
  void string(std::string& value);  // may move from `value`
  void start(bool array);           // an object or array opens
  void end();                       // the innermost open one closes

  // What was read; call once, when the parse has ended.
  PromptInfo take() {
    if (!chat_) info_.chars = info_.text.size();
    return std::move(info_);
  }

 private:
  enum class Key : std::uint8_t { other, role, content, type, text };
  enum class Top : std::uint8_t { other, input, tools, response_format };

  bool in_list() const { return top_ == Top::input && input_array_; }

  const bool chat_;
  const std::string_view input_key_;
  std::uint32_t depth_ = 0;  // containers open
  Top top_ = Top::other;     // the top-level member being read
  bool input_array_ = false;
  bool format_type_ = false;   // at response_format's "type"
  std::uint32_t strings_ = 0;  // of a prompt or input array, so far
  // Chat: the message being read, and its content part being read.
  Key message_key_ = Key::other, part_key_ = Key::other;
  bool user_ = false, system_ = false, text_part_ = false;
  std::string content_, part_;
  PromptInfo info_;
};

// Chat: a hash of the system text and the first user message, the same for every turn of a
// conversation (for session stickiness); 0 when there is no user message. Hashes the text
// (its first and last 2 KB) unless the request has several user turns, whose first the reader
// hashed while it had it.
std::uint64_t conversation_of(const PromptInfo& prompt);

// The prompt of `body`, read by a parse of its own (bounded depth, no DOM); empty if the body is
// not JSON. For code that has the body but no parse of it in progress (the simulator, `eval`,
// tests); the gateway reads it during parse_api_request.
PromptInfo read_prompt(Endpoint endpoint, std::string_view body);

// read_prompt(endpoint, body).text.
std::string prompt_text(Endpoint endpoint, std::string_view body);

}  // namespace switchyard

#include "api/prompt.hpp"

#include "core/hash.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>

namespace switchyard {

// Depths, counted in containers open: 1 inside the body's object, where `messages`, `prompt` or
// `input` is a key; 2 inside that member's array (or inside `tools`, `response_format`); 3
// inside a message; 4 inside a message's content array; 5 inside a content part.

void PromptReader::key(std::string_view k) {
  if (depth_ == 1) {
    top_ = k == input_key_                      ? Top::input
           : k == "tools" || k == "functions"   ? Top::tools
           : k == "response_format"             ? Top::response_format
                                                : Top::other;
  } else if (depth_ == 2 && top_ == Top::response_format) {
    format_type_ = k == "type";
  } else if (chat_ && in_list()) {
    if (depth_ == 3) {
      message_key_ = k == "role" ? Key::role : k == "content" ? Key::content : Key::other;
      if (message_key_ == Key::content) content_.clear();  // a repeated key: the last one counts
    } else if (depth_ == 5 && message_key_ == Key::content) {
      part_key_ = k == "type" ? Key::type : k == "text" ? Key::text : Key::other;
    }
  }
}

void PromptReader::string(std::string& v) {
  if (top_ == Top::response_format) {
    if (depth_ == 2 && format_type_) info_.json_output = v == "json_object" || v == "json_schema";
    return;
  }
  if (top_ != Top::input) return;
  if (!chat_) {
    if (depth_ == 1) {
      info_.text = std::move(v);
    } else if (depth_ == 2 && input_array_) {
      if (strings_++) info_.text += '\n';
      info_.text += v;
    }
  } else if (in_list() && depth_ == 3) {
    if (message_key_ == Key::role) {
      user_ = v == "user";
      system_ = v == "system" || v == "developer";
    } else if (message_key_ == Key::content) {
      content_ = std::move(v);
    }
  } else if (in_list() && depth_ == 5 && message_key_ == Key::content) {
    if (part_key_ == Key::text) {
      part_ = std::move(v);
    } else if (part_key_ == Key::type) {
      text_part_ = v == "text";
      info_.images |= v == "image_url" || v == "input_image" || v == "image";
    }
  }
}

void PromptReader::start(bool array) {
  if (top_ == Top::input && depth_ == 1) {
    input_array_ = array;
  } else if (top_ == Top::tools && depth_ == 2) {  // a tool
    info_.tools = true;
  } else if (chat_ && in_list() && depth_ == 2) {  // a message
    message_key_ = Key::other;
    user_ = system_ = false;
    content_.clear();
  } else if (chat_ && in_list() && depth_ == 4 && message_key_ == Key::content) {  // a part
    part_key_ = Key::other;
    text_part_ = false;
    part_.clear();
  }
  ++depth_;
}

namespace {

// hash_words() over the system text (its first `system_size` bytes: what there was of it when
// the first user message ended) and the first user message, each by its first and last kSample
// bytes (all of it when shorter than 2 × kSample), and their lengths; never 0. Hashing
// a 128 KB prompt byte by byte took 0.2 ms; conversations that differ only in the middle of a
// long first message merely share their stickiness.
constexpr std::size_t kSample = 2048;

std::uint64_t conversation_hash(std::string_view all_system, std::size_t system_size,
                                std::string_view first_user) {
  const std::string_view system = all_system.substr(0, system_size);
  const auto head = [](std::string_view s) { return s.substr(0, kSample); };
  const auto tail = [](std::string_view s) {
    return s.size() > kSample ? s.substr(std::max(kSample, s.size() - kSample)) : s.substr(0, 0);
  };
  const std::uint64_t h =
      (hash_words({head(system), tail(system), head(first_user), tail(first_user)}) ^
       (system.size() * 1000003 + first_user.size())) *
      1099511628211ull;
  return h ? h : 1;
}

}  // namespace

std::uint64_t conversation_of(const PromptInfo& prompt) {
  if (prompt.user_turns == 0) return 0;
  if (prompt.user_turns > 1) return prompt.first_turn;
  return conversation_hash(prompt.system, prompt.system_at_first_turn, prompt.text);
}

void PromptReader::end() {
  --depth_;
  if (!chat_ || !in_list()) return;
  if (depth_ == 4 && message_key_ == Key::content) {
    if (text_part_) content_ += part_;
  } else if (depth_ == 2) {  // a message ends
    ++info_.messages;
    info_.chars += content_.size();
    if (system_) {
      if (!info_.system.empty()) info_.system += '\n';
      info_.system += content_;
    } else if (user_) {
      // The first user message is the text until a second comes: hashed then, or on demand.
      if (++info_.user_turns == 1)
        info_.system_at_first_turn = info_.system.size();
      else if (info_.user_turns == 2)
        info_.first_turn = conversation_hash(info_.system, info_.system_at_first_turn, info_.text);
      info_.text = std::move(content_);
    }
  }
}

namespace {

using json = nlohmann::json;

// Feeds a PromptReader from nlohmann's SAX parser, which is iterative; stops past kMaxDepth.
class PromptSax {
 public:
  explicit PromptSax(PromptReader& reader) : reader_(reader) {}
  bool null() { return true; }
  bool boolean(bool) { return true; }
  bool number_integer(json::number_integer_t) { return true; }
  bool number_unsigned(json::number_unsigned_t) { return true; }
  bool number_float(json::number_float_t, const std::string&) { return true; }
  bool binary(json::binary_t&) { return true; }
  bool string(std::string& v) { return reader_.string(v), true; }
  bool key(std::string& k) { return reader_.key(k), true; }
  bool start_object(std::size_t) { return open(false); }
  bool start_array(std::size_t) { return open(true); }
  bool end_object() { return close(); }
  bool end_array() { return close(); }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) {
    return false;
  }

 private:
  static constexpr std::uint32_t kMaxDepth = 64;
  bool open(bool array) {
    reader_.start(array);
    return ++depth_ <= kMaxDepth;
  }
  bool close() {
    reader_.end();
    --depth_;
    return true;
  }
  PromptReader& reader_;
  std::uint32_t depth_ = 0;
};

}  // namespace

PromptInfo read_prompt(Endpoint endpoint, std::string_view body) {
  PromptReader reader(endpoint);
  PromptSax sax(reader);
  if (!json::sax_parse(body.begin(), body.end(), &sax)) return {};
  return reader.take();
}

std::string prompt_text(Endpoint endpoint, std::string_view body) {
  return read_prompt(endpoint, body).text;
}

}  // namespace switchyard

// The prompt's text (api/prompt.hpp), read by its own parse and during parse_api_request.
#include "api/prompt.hpp"
#include "api/request.hpp"

#include <gtest/gtest.h>

namespace switchyard {
namespace {

std::string chat(std::string_view body) { return prompt_text(Endpoint::chat_completions, body); }
std::string completion(std::string_view body) { return prompt_text(Endpoint::completions, body); }
std::string embedding(std::string_view body) { return prompt_text(Endpoint::embeddings, body); }

TEST(Prompt, ChatIsTheLastUserMessagesStringContent) {
  EXPECT_EQ(chat(R"({"model":"m","messages":[{"role":"system","content":"be brief"},)"
                 R"({"role":"user","content":"first"},{"role":"assistant","content":"ok"},)"
                 R"({"content":"second","role":"user"},{"role":"assistant","content":"done"}]})"),
            "second");
  EXPECT_EQ(chat(R"({"messages":[{"role":"user","content":"caf\u00e9 \"q\"\n"}],"model":"m"})"),
            "caf\xC3\xA9 \"q\"\n");
}

TEST(Prompt, ChatJoinsTheTextPartsOfAContentArray) {
  EXPECT_EQ(chat(R"({"messages":[{"role":"user","content":[)"
                 R"({"type":"text","text":"one "},)"
                 R"({"type":"image_url","image_url":{"url":"http://x/text"}},)"
                 R"({"text":"two","type":"text"},)"
                 R"({"type":"text","text":"!","annotations":[{"type":"text","text":"no"}]}]}]})"),
            "one two!");
  // A part that is not text, or has no type, adds nothing.
  EXPECT_EQ(chat(R"({"messages":[{"role":"user","content":[{"text":"untyped"},"bare",)"
                 R"({"type":"input_audio","text":"audio"},["text"]]}]})"),
            "");
}

TEST(Prompt, CompletionsPromptIsAStringOrStringsJoined) {
  EXPECT_EQ(completion(R"({"model":"m","prompt":"Once upon"})"), "Once upon");
  EXPECT_EQ(completion(R"({"model":"m","prompt":["a","","b"]})"), "a\n\nb");
  EXPECT_EQ(completion(R"({"model":"m","prompt":[1,2,3]})"), "");     // token ids
  EXPECT_EQ(completion(R"({"model":"m","prompt":[[1,2],[3]]})"), "");  // batches of token ids
}

TEST(Prompt, EmbeddingsInputIsAStringOrStringsJoined) {
  EXPECT_EQ(embedding(R"({"model":"m","input":"hello"})"), "hello");
  EXPECT_EQ(embedding(R"({"input":["x","y"],"model":"m"})"), "x\ny");
  EXPECT_EQ(embedding(R"({"model":"m","prompt":"not the input"})"), "");
}

TEST(Prompt, MissingOrOddShapesHaveNoText) {
  EXPECT_EQ(chat(R"({"model":"m"})"), "");
  EXPECT_EQ(chat(R"({"model":"m","messages":[]})"), "");
  EXPECT_EQ(chat(R"({"model":"m","messages":"hi"})"), "");
  EXPECT_EQ(chat(R"({"model":"m","messages":{"a":{"role":"user","content":"x"}}})"), "");
  EXPECT_EQ(chat(R"({"model":"m","messages":[{"role":"assistant","content":"only me"}]})"), "");
  EXPECT_EQ(chat(R"({"model":"m","messages":[{"role":"user","content":null}]})"), "");
  EXPECT_EQ(chat(R"({"model":"m","messages":[{"role":"user","content":"a"},)"
                 R"({"role":"user","content":7}]})"),
            "");  // the last user message has no text
  EXPECT_EQ(chat(R"({"model":"m","messages":[["user","x"],{"role":["user"],"content":"y"}]})"),
            "");
  EXPECT_EQ(chat(R"({"model":"m","other":{"messages":[{"role":"user","content":"x"}]}})"), "");
  EXPECT_EQ(completion(R"({"model":"m","prompt":{"text":"x"}})"), "");
  EXPECT_EQ(completion(R"({"model":"m","prompt":null})"), "");
  EXPECT_EQ(completion(R"(["prompt","x"])"), "");
  EXPECT_EQ(completion(R"({"model":"m","prompt":"cut)"), "");  // not JSON
  EXPECT_EQ(completion(std::string(100, '[') + std::string(100, ']')), "");  // too deep
}

// parse_api_request reads the same text in its own pass.
TEST(Prompt, TheParseCapturesTheSameText) {
  const std::string body = R"({"model":"m","messages":[{"role":"user","content":[)"
                           R"({"type":"text","text":"a\"b"},{"type":"text","text":"c"}]},)"
                           R"({"role":"assistant","content":"x"}]})";
  auto parsed = parse_api_request(Endpoint::chat_completions, body);
  ASSERT_TRUE(parsed);
  EXPECT_EQ(chat(body), "a\"bc");
  EXPECT_EQ(parsed->prompt.text, "a\"bc");
  auto batch = parse_api_request(Endpoint::embeddings, R"({"model":"m","input":["x","y"]})");
  ASSERT_TRUE(batch);
  EXPECT_EQ(batch->prompt.text, "x\ny");
  EXPECT_EQ(batch->prompt.chars, 3u);
}

}  // namespace
}  // namespace switchyard

// Quality gates on answers, and the JSON-schema subset they check: no dispatcher, no socket.
#include "config/yaml_map.hpp"
#include "router/cache/caches.hpp"
#include "router/gates/gates.hpp"
#include "router/gates/json_schema.hpp"
#include "support/fakes.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <filesystem>

namespace switchyard::test {
namespace {

using nlohmann::json;

Answer said(const std::string& text) {
  Answer a;
  a.readable = true;
  a.text = text;
  a.finish_reason = "stop";
  return a;
}

// A configuration with no models: these gates name none (the judge's are tested with the
// cascade, which calls it).
class NoModels final : public BuildContext {
 public:
  std::string_view route() const override { return "r"; }
  std::vector<const Target*> targets_for(std::string_view) override { return {}; }
  std::string_view model_list() const override { return ""; }
  Metrics& metrics() override { return metrics_; }
  ResponseCaches& caches() override { return caches_; }

 private:
  Metrics metrics_;
  ResponseCaches caches_;
};

Gates read_gates(const YAML::Node& node, const std::string& path) {
  NoModels none;
  return switchyard::read_gates(node, path, none);
}

// What `gates` (YAML) find wrong with `answer` to `request`, or "pass".
std::string verdict(const std::string& gates, const Answer& answer,
                    const ApiRequest& request = chat_request()) {
  const Gates g = read_gates(YAML::Load(gates), "gates");
  const GateInput in(request, answer);
  auto v = g.verdict(g.judge_each(in));
  return v.gate.empty() ? "pass" : std::string(v.gate) + ": " + v.why;
}

TEST(Gates, RefusalsAndNonAnswersFailTheRefusalGate) {
  for (const char* refusal : {"I'm sorry, but I can't help with that.", "I cannot do that.",
                              "  I don’t know.", "As an AI, I have no opinions.",
                              "Sorry, I am unable to browse.", "I apologize, but no."})
    EXPECT_EQ(verdict("{refusal: true}", said(refusal)), "refusal: matched") << refusal;
  for (const char* answer : {"B", "Sure: 42.", "I think the answer is B.",
                             "The function is below. I can't stress enough: test it."})
    EXPECT_EQ(verdict("{refusal: true}", said(answer)), "pass") << answer;
  EXPECT_EQ(verdict("{refusal: {patterns: ['(?i)^nope']}}", said("Nope.")), "refusal: matched");
  EXPECT_EQ(verdict("{refusal: {patterns: ['(?i)^nope']}}", said("I cannot.")), "pass");
}

TEST(Gates, LengthContainsRegexAndModes) {
  EXPECT_EQ(verdict("{min_chars: 3}", said("ok")), "length: shorter than min_chars");
  EXPECT_EQ(verdict("{max_chars: 3}", said("four")), "length: longer than max_chars");
  EXPECT_EQ(verdict("{contains: ['```', 'def ']}", said("def f(): pass")), "pass");
  EXPECT_EQ(verdict("{contains: '```'}", said("no code")), "contains: contains none");
  EXPECT_EQ(verdict("{regex: '^[A-D]$'}", said("E")), "regex: no match");
  // all: the first failure decides; any: one pass is enough, else the last failure.
  EXPECT_EQ(verdict("{min_chars: 10, regex: '^[A-D]$'}", said("E")),
            "length: shorter than min_chars");
  EXPECT_EQ(verdict("{mode: any, min_chars: 10, regex: '^[A-D]$'}", said("B")), "pass");
  EXPECT_EQ(verdict("{mode: any, min_chars: 10, regex: '^[A-D]$'}", said("E")), "regex: no match");
  Answer cut = said("The answer");
  cut.finish_reason = "length";
  EXPECT_EQ(verdict("{finish_reason: [length]}", cut), "finish_reason: finish_reason length");
  EXPECT_EQ(verdict("{finish_reason: [content_filter]}", cut), "pass");
}

TEST(Gates, LogprobsJudgeTheMeanAndTheLeastConfidentToken) {
  Answer a = said("B");
  EXPECT_EQ(verdict("{logprobs: {min_mean_prob: 0.5}}", a), "logprobs: no logprobs");
  a.logprobs = {std::log(0.9), std::log(0.8), std::log(0.7)};  // geometric mean 0.796
  EXPECT_EQ(verdict("{logprobs: {min_mean_prob: 0.7, min_token_prob: 0.5}}", a), "pass");
  EXPECT_EQ(verdict("{logprobs: {min_mean_prob: 0.8}}", a),
            "logprobs: mean token probability 0.796 below 0.8");
  a.logprobs = {std::log(0.99), std::log(0.99), std::log(0.02)};
  EXPECT_EQ(verdict("{logprobs: {min_mean_prob: 0.2}}", a), "pass");
  EXPECT_EQ(verdict("{logprobs: {min_token_prob: 0.05}}", a),
            "logprobs: a token of probability 0.020, below 0.05");
  EXPECT_TRUE(read_gates(YAML::Load("{logprobs: {min_token_prob: 0.05}}"), "g").needs_logprobs);
  EXPECT_FALSE(read_gates(YAML::Load("{refusal: true}"), "g").needs_logprobs);
}

TEST(Gates, AJudgesReplyIsReadForItsFirstNumber) {
  EXPECT_EQ(first_number("8"), 8);
  EXPECT_EQ(first_number("Score: 7.5/10"), 7.5);
  EXPECT_EQ(first_number("Answer 2 is best; answer 1 is close."), 2);
  EXPECT_EQ(first_number("No idea."), std::nullopt);
  EXPECT_EQ(first_number(""), std::nullopt);
}

// The code validator with `sh` as its checker, which every machine has: "{file}" is $0.
CodeCheck code_check(const std::string& script, const std::string& extra = {}) {
  return read_code_check(YAML::Load("{command: [sh, -c, '" + script + "', '{file}']" + extra + "}"),
                         "code");
}

TEST(CodeCheck, TheFirstFencedBlockOfATakenLanguage) {
  const std::string text = "Here:\n```js\nlet x;\n```\nand\n```Python\ndef f(): pass\n```\n";
  EXPECT_EQ(code_block(text, {}), "let x;\n");
  EXPECT_EQ(code_block(text, {"python"}), "def f(): pass\n");
  EXPECT_EQ(code_block("```\nplain\n```", {"python"}), "plain\n");  // unlabelled: taken
  EXPECT_EQ(code_block("no code", {}), std::nullopt);
  EXPECT_EQ(code_block("```python\nnever closed", {}), std::nullopt);
}

TEST(CodeCheck, TheCommandsExitDecidesAndItsFirstLineSaysWhy) {
  const auto check = code_check(
      R"sh(grep -q "def " "$0" || { echo "no def in $(cat "$0")"; exit 3; })sh",
      ", languages: [python]");
  EXPECT_EQ(run(check_code(check, "```python\ndef f(): pass\n```")), "");
  EXPECT_EQ(run(check_code(check, "```python\nf = 1\n```")), "exit 3: no def in f = 1");
  EXPECT_EQ(run(check_code(check, "no code at all")), "");  // nothing to check
  EXPECT_EQ(run(check_code(check, "```js\nf = 1\n```")), "");  // not a language it takes
  // The file has the configured name, in a directory of its own, gone afterwards.
  const auto named = code_check(R"sh(case "$0" in */answer.py) pwd; exit 1;; esac)sh",
                                ", file: answer.py");
  const std::string said = run(check_code(named, "```\nx\n```"));
  ASSERT_EQ(said.rfind("exit 1: ", 0), 0u) << said;
  EXPECT_FALSE(std::filesystem::exists(said.substr(8)));
}

TEST(CodeCheck, TheCommandInheritsNoneOfTheGatewaysFiles) {
  const int fd = ::open("/dev/null", O_RDONLY);  // not close-on-exec, as Asio's sockets are not
  ASSERT_GE(fd, 3);
  const auto check = code_check("test ! -e /proc/$$/fd/" + std::to_string(fd) + " || exit 1");
  EXPECT_EQ(run(check_code(check, "```\nx\n```")), "");
  ::close(fd);
}

TEST(CodeCheck, ACommandPastItsTimeOrMemoryIsStopped) {
  const auto slow = code_check("sleep 30", ", timeout_ms: 200");
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(run(check_code(slow, "```\nx\n```")), "no verdict within 200 ms");
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  // dd wants a 256 MB buffer; the cap is 32 MB.
  const auto hungry =
      code_check("dd if=/dev/zero of=/dev/null bs=256M count=1 2>&1", ", memory_mb: 32");
  const std::string why = run(check_code(hungry, "```\nx\n```"));
  EXPECT_EQ(why.rfind("exit 1: ", 0), 0u) << why;
  EXPECT_NE(why.find("memory"), std::string::npos) << why;
}

TEST(CodeCheck, ConfigErrorsNameThePath) {
  auto error = [](const std::string& yaml) {
    try {
      read_code_check(YAML::Load(yaml), "code");
    } catch (const ConfigFailure& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_EQ(error("{command: [sh, -c, 'true']}"),
            "code.command: must pass \"{file}\", where the code block is written");
  EXPECT_EQ(error("{command: [no-such-checker, '{file}']}"),
            "code.command[0]: \"no-such-checker\" is not an executable on PATH");
  EXPECT_EQ(error("{command: [sh, '{file}'], file: ../x}"), "code.file: must be a plain file name");
  EXPECT_EQ(error("{command: [sh, '{file}'], timeout_ms: 0}"),
            "code.timeout_ms: must be 1 to 60000");
}

TEST(Gates, JsonOnlyWhenTheRequestAsksForIt) {
  EXPECT_EQ(verdict("{json: true}", said("prose")), "pass");  // no response_format
  const auto object = chat_request(R"(,"response_format":{"type":"json_object"})");
  EXPECT_EQ(verdict("{json: true}", said("prose"), object), "json: not JSON");
  EXPECT_EQ(verdict("{json: true}", said("[1]"), object), "json: not a JSON object");
  EXPECT_EQ(verdict("{json: true}", said(R"({"a": 1})"), object), "pass");
  EXPECT_EQ(verdict("{json: true}", said(std::string(100, '[') + std::string(100, ']')), object),
            "json: not JSON");  // too deep to parse safely
}

TEST(Gates, ToolCallsMustNameADeclaredToolWithConformingArguments) {
  const auto req = chat_request(
      R"(,"tools":[{"type":"function","function":{"name":"weather","parameters":)"
      R"({"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}}])");
  auto call = [](const std::string& name, const std::string& args) {
    Answer a = said("");
    a.tool_calls.push_back({name, args});
    return a;
  };
  EXPECT_EQ(verdict("{tool_arguments: true}", call("weather", R"({"city":"Oslo"})"), req), "pass");
  EXPECT_EQ(verdict("{tool_arguments: true}", call("weather", R"({"town":"Oslo"})"), req),
            "tool_arguments: weather: $: lacks the required \"city\"");
  EXPECT_EQ(verdict("{tool_arguments: true}", call("weather", R"({"city":)"), req),
            "tool_arguments: weather: arguments are not JSON");
  EXPECT_EQ(verdict("{tool_arguments: true}", call("weather", "[]"), req),
            "tool_arguments: weather: arguments are not a JSON object");
  EXPECT_EQ(verdict("{tool_arguments: true}", call("stocks", "{}"), req),
            "tool_arguments: unknown tool \"stocks\"");
}

TEST(JsonSchema, TheStrictSubset) {
  const json schema = json::parse(R"({
    "type": "object",
    "properties": {
      "name": {"type": "string", "minLength": 1},
      "age": {"type": ["integer", "null"], "minimum": 0},
      "tags": {"type": "array", "items": {"enum": ["a", "b"]}, "maxItems": 2},
      "kind": {"const": "person"},
      "home": {"$ref": "#/$defs/place"},
      "id": {"anyOf": [{"type": "string"}, {"type": "integer"}]}
    },
    "required": ["name", "kind"],
    "additionalProperties": false,
    "$defs": {"place": {"type": "object", "properties": {"city": {"type": "string"}},
                        "required": ["city"], "additionalProperties": false}}
  })");
  auto check = [&](const std::string& value) {
    std::string why;
    return conforms(json::parse(value), schema, why) ? "ok" : why;
  };
  EXPECT_EQ(check(R"({"name":"Ada","kind":"person","age":36,"tags":["a"],"home":{"city":"London"},"id":7})"),
            "ok");
  EXPECT_EQ(check(R"({"name":"Ada","kind":"person","age":null,"id":"x"})"), "ok");
  EXPECT_EQ(check(R"({"name":"Ada","kind":"person","age":36.0})"), "ok");  // a whole number
  EXPECT_EQ(check(R"({"name":"Ada","kind":"person","age":36.5})"), "$.age: expected [\"integer\",\"null\"]");
  EXPECT_EQ(check(R"({"name":"","kind":"person"})"), "$.name: is shorter than minLength");
  EXPECT_EQ(check(R"({"name":"Ada","kind":"robot"})"), "$.kind: must be \"person\"");
  EXPECT_EQ(check(R"({"name":"Ada","kind":"person","tags":["c"]})"), "$.tags[0]: is not one of [\"a\",\"b\"]");
  EXPECT_EQ(check(R"({"name":"Ada","kind":"person","tags":["a","b","a"]})"), "$.tags: has more than maxItems");
  EXPECT_EQ(check(R"({"name":"Ada","kind":"person","home":{}})"), "$.home: lacks the required \"city\"");
  EXPECT_EQ(check(R"({"name":"Ada","kind":"person","extra":1})"), "$.extra: is not allowed");
  EXPECT_EQ(check(R"({"name":"Ada","kind":"person","id":true})"), "$.id: matches none of anyOf");
  EXPECT_EQ(check(R"({"kind":"person"})"), "$: lacks the required \"name\"");
  // Lengths in characters, patterns by RE2 (unanchored, as JSON Schema means), multiples.
  const json more = json::parse(R"js({"type": "object", "properties": {
      "code": {"type": "string", "pattern": "^[A-Z]{3}-[0-9]+$", "maxLength": 3},
      "word": {"type": "string", "pattern": "ab"},
      "odd": {"type": "string", "pattern": "(?=x)"},
      "step": {"type": "number", "multipleOf": 0.25}}})js");
  auto check_more = [&](const std::string& value) {
    std::string why;
    return conforms(json::parse(value), more, why) ? "ok" : why;
  };
  EXPECT_EQ(check_more(R"({"code":"ABC-7"})"), "$.code: is longer than maxLength");
  EXPECT_EQ(check_more(R"({"code":"\u00e9\u00e9\u00e9"})"),
            "$.code: does not match its pattern");  // 3 characters, 6 bytes: not too long
  EXPECT_EQ(check_more(R"({"word":"crab cake"})"), "ok");
  EXPECT_EQ(check_more(R"({"word":"cake"})"), "$.word: does not match its pattern");
  EXPECT_EQ(check_more(R"({"odd":"y"})"), "ok");  // lookahead: RE2 does not take it, unchecked
  EXPECT_EQ(check_more(R"({"step":1.75})"), "ok");
  EXPECT_EQ(check_more(R"({"step":1.3})"), "$.step: is not a multiple of 0.25");
  // A schema that refers to itself forever fails instead of overflowing the stack.
  std::string why;
  EXPECT_FALSE(conforms(json::parse("1"), json::parse(R"({"$ref":"#"})"), why));
  EXPECT_EQ(why, "$: is nested too deeply");
  // A client's schema with two ways down at every level: 2^32 checks, unless the work is
  // capped (without the cap this test does not end). It gives up and says so.
  EXPECT_FALSE(conforms(json::parse("1"), json::parse(R"({"anyOf":[{"$ref":"#"},{"$ref":"#"}]})"),
                        why));
  EXPECT_EQ(why, "$: the schema takes too long to check");
  // So does one that scans a long enum at every step.
  json long_enum = json::parse(R"({"anyOf":[{"$ref":"#"},{"$ref":"#"}]})");
  for (int i = 0; i < 10'000; ++i) long_enum["enum"].push_back(i);
  EXPECT_FALSE(conforms(json::parse("9999"), long_enum, why));
  EXPECT_EQ(why, "$: the schema takes too long to check");
}

TEST(Agreement, AnswersAreComparedByTheChoiceTheyPick) {
  auto key = [](const std::string& text) { return agreement_key(said(text)); };
  EXPECT_EQ(key("B"), "B");
  EXPECT_EQ(key("(b)"), "B");
  EXPECT_EQ(key("B) buildings will be made safer"), "B");
  EXPECT_EQ(key("  C."), "C");
  EXPECT_EQ(key("42"), "42");
  EXPECT_EQ(key("The answer is: D"), "D");
  EXPECT_EQ(key("I think the answer is A because"), "A");
  // Not a choice: the text, lower-cased with its spaces collapsed.
  EXPECT_EQ(key("I think so"), "i think so");
  EXPECT_EQ(key("  Paris\n is  the capital "), "paris is the capital");
  EXPECT_EQ(key("A good question"), "a good question");
}

TEST(Answer, ReadFromABodyOrAssembledFromAStream) {
  CallResult body;
  body.reply.status = 200;
  body.reply.body =
      R"({"choices":[{"index":0,"message":{"content":"Hi","tool_calls":[{"id":"c","type":"function",)"
      R"("function":{"name":"f","arguments":"{\"x\":1}"}}]},"finish_reason":"tool_calls",)"
      R"("logprobs":{"content":[{"token":"Hi","logprob":-0.25}]}}]})";
  auto a = read_answer(body);
  EXPECT_TRUE(a.readable);
  EXPECT_EQ(a.text, "Hi");
  EXPECT_EQ(a.finish_reason, "tool_calls");
  ASSERT_EQ(a.tool_calls.size(), 1u);
  EXPECT_EQ(a.tool_calls[0].arguments, R"({"x":1})");
  EXPECT_EQ(a.logprobs, (std::vector<double>{-0.25}));
  CallResult stream;
  stream.reply.status = 200;
  stream.events = {
      "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel\"}}]}\n\n",
      "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":"
      "{\"name\":\"f\",\"arguments\":\"{\\\"x\\\"\"}}]}}]}\n\n",
      "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"lo\",\"tool_calls\":[{\"index\":0,"
      "\"function\":{\"arguments\":\":2}\"}}]},\"finish_reason\":\"stop\"}]}\n\n",
      "data: [DONE]\n\n"};
  a = read_answer(stream);
  EXPECT_EQ(a.text, "Hello");
  EXPECT_EQ(a.finish_reason, "stop");
  ASSERT_EQ(a.tool_calls.size(), 1u);
  EXPECT_EQ(a.tool_calls[0].name, "f");
  EXPECT_EQ(a.tool_calls[0].arguments, R"({"x":2})");
  CallResult failed;
  failed.error = make_error(Reason::connect, "down");
  EXPECT_FALSE(read_answer(failed).readable);
}

}  // namespace
}  // namespace switchyard::test

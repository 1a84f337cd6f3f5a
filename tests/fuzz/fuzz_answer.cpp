// What quality gates read of bytes from outside: an upstream's answer (read_answer, as a body
// and as a stream's events, then agreement_key, the code validator's code_block and a judge's
// reading of its score, first_number) and a client's JSON schema checked against the answer's
// text (conforms). Nothing may crash, hang or grow without bound.
//
// Input layout: the answer, then optionally a 0x00 byte and the schema.
#include "api/request.hpp"
#include "router/gates/answer.hpp"
#include "router/gates/gates.hpp"
#include "router/gates/json_schema.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace switchyard;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const auto split = input.find('\0');
  const std::string_view body = input.substr(0, split);
  const std::string_view schema =
      split == std::string_view::npos ? std::string_view{} : input.substr(split + 1);

  CallResult whole;
  whole.reply.status = 200;
  whole.reply.body = std::string(body);
  const Answer answer = read_answer(whole);
  (void)agreement_key(answer);
  (void)code_block(body, {});
  (void)code_block(body, {"python"});
  (void)first_number(body);

  // The same bytes as a stream: an event per line.
  CallResult stream;
  stream.reply.status = 200;
  for (std::size_t at = 0; at < body.size();) {
    const auto eol = std::min(body.find('\n', at), body.size());
    stream.events.push_back("data: " + std::string(body.substr(at, eol - at)) + "\n\n");
    at = eol + 1;
  }
  (void)agreement_key(read_answer(stream));

  if (schema.empty() || !is_bounded_json(schema, 64) || !is_bounded_json(answer.text, 64)) return 0;
  const auto s = nlohmann::json::parse(schema, nullptr, false);
  const auto v = nlohmann::json::parse(answer.text, nullptr, false);
  if (s.is_discarded() || v.is_discarded()) return 0;
  std::string why;
  (void)conforms(v, s, why);
  return 0;
}

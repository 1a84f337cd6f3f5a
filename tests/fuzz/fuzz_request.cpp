// A client body through parse_api_request, as the session hands it over (the body is bounded by
// server.max_body_bytes, not by its shape). It may refuse the body; it may not crash, leak or run
// out of stack, whatever the nesting, size or encoding. The prompt it reads on the way is the one
// read_prompt() reads in a parse of its own.
//
// Input layout: byte 0 picks the endpoint (byte0 % 3: '0' chat/completions, '1' completions,
// '2' embeddings, so seeds stay readable); the rest is the body.
#include "fuzz.hpp"
#include "api/prompt.hpp"
#include "api/request.hpp"

#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <string>

namespace {

using fuzz::check;

// Invariants of an accepted request: its spans point into its own bytes, and every way of
// forwarding it is still JSON.
void check_accepted(const switchyard::ApiRequest& r, switchyard::Endpoint endpoint,
                    std::size_t body_size) {
  using namespace switchyard;
  check(r.endpoint == endpoint);
  check(!r.model.empty());
  check(!r.include_usage || r.stream);  // stream_options is refused without stream
  check(!(r.stream && endpoint == Endpoint::embeddings));
  check(r.body.size() == body_size);
  check(r.model_value.begin < r.model_value.end && r.model_value.end <= r.body.size());
  const auto own = read_prompt(endpoint, r.body);
  check(r.prompt.text == own.text && r.prompt.system == own.system &&
        r.prompt.messages == own.messages && r.prompt.chars == own.chars &&
        r.prompt.tools == own.tools && r.prompt.json_output == own.json_output &&
        r.prompt.images == own.images && r.prompt.user_turns == own.user_turns);
  for (auto usage : {UsageOption::as_sent, UsageOption::request, UsageOption::strip})
    check(is_bounded_json(forward_body(r, "m", usage), 64));
  // The cache's key: the same text for the body as forwarded with the same model (its own
  // spelling of the same JSON), another with another model.
  constexpr std::string_view kWithout[] = {"user"};
  const auto key = canonical_body(r.body, kWithout);
  const auto again = canonical_body(forward_body(r, r.model, UsageOption::as_sent), kWithout);
  check(key.has_value() == again.has_value());
  check(!key || (key->text == again->text && key->temperature_zero == again->temperature_zero));
  const auto other = canonical_body(forward_body(r, r.model + "x", UsageOption::as_sent), kWithout);
  check(!key || key->text != other->text);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const auto endpoint = static_cast<switchyard::Endpoint>(data[0] % 3);
  std::string body(reinterpret_cast<const char*>(data + 1), size - 1);
  auto r = switchyard::parse_api_request(endpoint, body);
  // simdjson (nlohmann for numbers it does not hold) accepts only what nlohmann does, and calls
  // a body not JSON only when nlohmann agrees; it also refuses a NUL byte, which nlohmann takes
  // for the end of some texts. (Other refusals may come first: a duplicate key, the depth.)
  const bool json = body.find('\0') == std::string::npos && nlohmann::json::accept(body);
  check(!r || json);
  check(r || r.error().message.find("could not parse") == std::string::npos || !json);
  if (!r) {
    check(!r.error().message.empty());
    return 0;
  }
  check_accepted(*r, endpoint, size - 1);
  return 0;
}

// The client's JSON body: validated once, in one pass that builds no DOM, and forwarded as the
// client's own bytes with only what the gateway must change spliced in.
#pragma once

#include "switchyard/router.hpp"

#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace switchyard {

// What a client body may make the gateway do. Nesting is bounded so that no walk of client data
// (ours, the upstream's, a log line's) can exhaust a worker's stack; top-level members are
// bounded because the duplicate check remembers each key.
struct BodyLimits {
  std::uint32_t max_depth = 64;
  std::uint32_t max_top_level_members = 256;
};

// The spare capacity past a body that lets parse_api_request parse it where it is (simdjson
// reads up to SIMDJSON_PADDING bytes past a text; without the room it copies the text first).
inline constexpr std::size_t kJsonPadding = 64;

// Parses and validates a client body once, without exceptions: valid JSON with no NUL byte (at
// most `limits.max_depth` deep), an object with no duplicate top-level key, a string `model`,
// the endpoint's required input (`messages`, `prompt` or `input`), and well-typed `stream` and
// `stream_options`; reads the prompt (ApiRequest::prompt, api/prompt.hpp) in the same pass.
// simdjson parses it into the calling thread's reusable tape (a body with an integer past 64
// bits takes nlohmann's slower SAX parser). Takes the body by value: the request owns the bytes
// it will forward; with kJsonPadding bytes of spare capacity it is never copied.
// Errors name the offending param, as OpenAI does.
Result<ApiRequest> parse_api_request(Endpoint endpoint, std::string body, BodyLimits limits = {});

// Checks that `text` is one JSON value (UTF-8, no NUL byte) nested at most `max_depth` (under
// 1024) deep. Up to 1 MiB it parses with simdjson into the calling thread's reusable parser (no
// allocation once warm; the C stack grows by at most `max_depth` small frames), so it is cheap
// enough for every upstream answer and event; a longer text is checked by nlohmann's events, in
// constant memory. Must not be called while a result of that parser is in use (from inside
// read_body or canonical_body).
bool is_bounded_json(std::string_view text, std::uint32_t max_depth);

// is_bounded_json(), and the usage of the answer `text` holds, read from the same parse: the
// prompt_tokens and completion_tokens of its top-level "usage" object (the first, if the key
// repeats), else of the first top-level object member's "usage" (Groq's "x_groq" in a stream);
// nullopt when there is none, it is null or it lacks prompt_tokens. Counts that are
// not unsigned integers, and texts the slow paths parse, are read by extract_usage's scan. Left
// alone when `text` is not bounded JSON.
bool is_bounded_json(std::string_view text, std::uint32_t max_depth, std::optional<Usage>& usage);

// How the forwarded body treats stream_options.include_usage.
enum class UsageOption : std::uint8_t {
  as_sent,  // leave the client's stream_options alone
  request,  // make sure include_usage is true (the gateway needs usage for cost)
  strip,    // remove include_usage (and an emptied stream_options): the upstream rejects it
};

// The body to send upstream: the client's bytes with `model` replaced by `model_id` and
// stream_options adjusted as `usage` says, and with "logprobs": true when `logprobs` (a chat
// request that does not ask for them itself: added, or in place of its false or null; the gate
// that wants them strips them from the answer again), and with "n": `choices` when it is above
// 1 (a chat or completions request that asks for one choice: no n, or n: 1). Key order, number
// precision and whitespace are kept.
std::string forward_body(const ApiRequest& request, std::string_view model_id, UsageOption usage,
                         bool logprobs = false, std::uint32_t choices = 1);

// The body as the response cache compares it: one text per meaning, whatever the client's
// spacing, key order or spelling of a string or number (`"\u0041"` and `"A"`, `1e2` and `100.0`
// are the same; `1` and `1.0` are not). Every object's members are sorted by key (stably, so
// duplicates keep their order) and the top-level members named in `without` are left out. The
// text is for comparing only: strings are length-prefixed, not escaped, so no two bodies that
// differ give the same text. `temperature_zero`: the body has a numeric top-level temperature
// of 0; the text is built only then, or with `any_temperature` (else it is empty). nullopt for a
// body the fast parser does not hold (an integer past 64 bits): such a body is not cached. Read
// from the calling thread's reusable simdjson parser (its tape, not a tree of allocations; the
// types are checked before each conversion, so none throws); `body` is a body
// parse_api_request() accepted.
struct CanonicalBody {
  std::string text;
  bool temperature_zero = false;
};
std::optional<CanonicalBody> canonical_body(std::string_view body,
                                            std::span<const std::string_view> without,
                                            bool any_temperature = true);

}  // namespace switchyard

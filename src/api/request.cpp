#include "api/request.hpp"

#include "api/prompt.hpp"
#include "api/usage.hpp"
#include "core/json_text.hpp"

#include <boost/container/small_vector.hpp>
#include <nlohmann/json.hpp>
#include <simdjson.h>

#include <algorithm>
#include <cstring>
#include <optional>
#include <vector>

namespace switchyard {

namespace {

using json = nlohmann::json;

enum class Kind : std::uint8_t { null, boolean, number, string, object, array };

// The events of a parsed body, in document order (walk() below): keeps only what the gateway
// reads, stops at the depth and member limits and at a duplicate top-level key. Keys nested
// below the top level are never stored. It feeds a PromptReader from the same pass.
class BodySax {
 public:
  BodySax(Endpoint endpoint, const BodyLimits& limits)
      : input_key_(endpoint == Endpoint::chat_completions ? "messages"
                   : endpoint == Endpoint::completions    ? "prompt"
                                                          : "input"),
        prompt_(endpoint),
        limits_(limits) {}

  bool null() { return value(Kind::null); }
  bool boolean(bool v) {
    if (depth_ == 1 && member_ == Member::stream) stream_ = v;
    if (depth_ == 2 && member_ == Member::stream_options && include_usage_key_)
      include_usage_ = v;
    return value(Kind::boolean);
  }
  bool number() { return value(Kind::number); }
  bool string(std::string& v) {
    if (depth_ == 1 && member_ == Member::model) model_ = std::move(v);
    else if (depth_ == 1 && member_ == Member::user) user_ = std::move(v);
    else if (depth_ == 1 && member_ == Member::prompt_cache_key) prompt_cache_key_ = std::move(v);
    else prompt_.string(v);
    return value(Kind::string);
  }

  bool start_object() { return value(Kind::object) && open(false); }
  bool start_array() { return value(Kind::array) && open(true); }
  bool end_object() { return close(); }
  bool end_array() { return close(); }

  bool key(std::string& k) {
    prompt_.key(k);
    if (depth_ == 2) include_usage_key_ = member_ == Member::stream_options && k == "include_usage";
    if (depth_ != 1) return true;
    if (++members_ > limits_.max_top_level_members) return fail(Stop::too_many_members);
    member_ = k == "model"            ? Member::model
              : k == "stream"         ? Member::stream
              : k == "stream_options" ? Member::stream_options
              : k == input_key_       ? Member::input
              : k == "user"           ? Member::user
              : k == "prompt_cache_key" ? Member::prompt_cache_key
                                        : Member::other;
    if (member_ == Member::model) model_index_ = members_ - 1;
    if (member_ == Member::stream_options) stream_options_index_ = members_ - 1;
    if (k == "logprobs") logprobs_index_ = members_ - 1;
    if (k == "n") n_index_ = members_ - 1;
    const std::size_t hash = std::hash<std::string_view>{}(k);
    for (const auto& [h, seen] : keys_)
      if (h == hash && seen == k) {
        duplicate_ = k.substr(0, 64);
        return fail(Stop::duplicate_key);
      }
    keys_.emplace_back(hash, std::move(k));
    return true;
  }

  enum class Stop : std::uint8_t { none, syntax, too_deep, too_many_members, duplicate_key };
  enum class Member : std::uint8_t {
    other, model, stream, stream_options, input, user, prompt_cache_key
  };

  bool fail(Stop s) {
    if (stop_ == Stop::none) stop_ = s;
    return false;
  }

  Stop stop_ = Stop::none;
  std::string duplicate_;  // the duplicated key, for the message
  Kind root_ = Kind::null;
  const char* input_key_;
  // Per top-level member, by the kind of its value (null when absent).
  Kind model_kind_ = Kind::null, stream_kind_ = Kind::null, stream_options_kind_ = Kind::null,
       input_kind_ = Kind::null, include_usage_kind_ = Kind::null;
  std::string model_, user_, prompt_cache_key_;
  bool stream_ = false, include_usage_ = false, input_empty_ = true;
  std::size_t n_index_ = SIZE_MAX, logprobs_index_ = SIZE_MAX;
  std::size_t model_index_ = SIZE_MAX, stream_options_index_ = SIZE_MAX;
  PromptReader prompt_;

 private:
  // Every value passes here before its own handling: records the kinds of top-level members.
  bool value(Kind k) {
    if (depth_ == 0) root_ = k;
    if (depth_ == 1) {
      switch (member_) {
        case Member::model: model_kind_ = k; break;
        case Member::stream: stream_kind_ = k; break;
        case Member::stream_options: stream_options_kind_ = k; break;
        case Member::input: input_kind_ = k; break;
        default: break;
      }
    }
    if (depth_ == 2 && member_ == Member::input) input_empty_ = false;
    if (depth_ == 2 && member_ == Member::stream_options && include_usage_key_)
      include_usage_kind_ = k;
    return true;
  }
  bool open(bool array) {
    if (++depth_ > limits_.max_depth) return fail(Stop::too_deep);
    prompt_.start(array);
    return true;
  }
  bool close() {
    --depth_;
    prompt_.end();
    return true;
  }
  const BodyLimits& limits_;
  std::uint32_t depth_ = 0;
  std::uint32_t members_ = 0;
  Member member_ = Member::other;
  bool include_usage_key_ = false;
  // The top-level keys so far, each with its hash, which is compared first: a request's handful
  // without an allocation (a set cost 900 instructions a request), and the most a body may have
  // (max_top_level_members, 256) in ~32k comparisons of hashes.
  boost::container::small_vector<std::pair<std::size_t, std::string>, 8> keys_;
};

// Depth-bounded validation without a DOM: the SAX events are counted, nothing is kept.
class DepthSax {
 public:
  explicit DepthSax(std::uint32_t max_depth) : max_(max_depth) {}
  bool null() { return true; }
  bool boolean(bool) { return true; }
  bool number_integer(json::number_integer_t) { return true; }
  bool number_unsigned(json::number_unsigned_t) { return true; }
  bool number_float(json::number_float_t, const std::string&) { return true; }
  bool string(std::string&) { return true; }
  bool binary(json::binary_t&) { return true; }
  bool start_object(std::size_t) { return ++depth_ <= max_; }
  bool start_array(std::size_t) { return ++depth_ <= max_; }
  bool end_object() { return --depth_, true; }
  bool end_array() { return --depth_, true; }
  bool key(std::string&) { return true; }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) {
    return false;
  }

 private:
  std::uint32_t max_;
  std::uint32_t depth_ = 0;
};

// Feeds `sax` the events of `e` in document order (duplicate keys included: the DOM keeps every
// member), until the handler refuses one. Recursion is bounded by the parser's max_depth.
bool walk(simdjson::dom::element e, BodySax& sax) {
  using Type = simdjson::dom::element_type;
  switch (e.type()) {
    case Type::OBJECT: {
      if (!sax.start_object()) return false;
      const simdjson::dom::object object(e);
      for (const auto member : object) {
        std::string key(member.key);
        if (!sax.key(key) || !walk(member.value, sax)) return false;
      }
      return sax.end_object();
    }
    case Type::ARRAY: {
      if (!sax.start_array()) return false;
      const simdjson::dom::array array(e);
      for (const auto item : array)
        if (!walk(item, sax)) return false;
      return sax.end_array();
    }
    case Type::STRING: {
      std::string text(std::string_view{e});
      return sax.string(text);
    }
    case Type::BOOL: return sax.boolean(bool{e});
    case Type::NULL_VALUE: return sax.null();
    default: return sax.number();
  }
}

// nlohmann's SAX events into a BodySax: the slow path (75 MB/s), for the bodies with a number
// simdjson does not hold (an integer past 64 bits, a double out of range), which JSON allows and
// the gateway forwards as sent.
struct SlowEvents {
  BodySax& sax;
  bool null() { return sax.null(); }
  bool boolean(bool v) { return sax.boolean(v); }
  bool number_integer(json::number_integer_t) { return sax.number(); }
  bool number_unsigned(json::number_unsigned_t) { return sax.number(); }
  bool number_float(json::number_float_t, const std::string&) { return sax.number(); }
  bool binary(json::binary_t&) { return sax.number(); }  // not in JSON text
  bool string(std::string& v) { return sax.string(v); }
  bool key(std::string& k) { return sax.key(k); }
  bool start_object(std::size_t) { return sax.start_object(); }
  bool start_array(std::size_t) { return sax.start_array(); }
  bool end_object() { return sax.end_object(); }
  bool end_array() { return sax.end_array(); }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) {
    return sax.fail(BodySax::Stop::syntax);
  }
};

// Each thread's parser, one for every caller (not one per instantiation of the template below),
// reused so that its buffers are allocated once.
simdjson::dom::parser& thread_parser() {
  thread_local simdjson::dom::parser parser;
  return parser;
}
constexpr std::size_t kKeep = 1 << 20;

// Parses `text` in the calling thread's parser and hands `use` the result and the text it read:
// `text` less a UTF-8 byte-order mark, which simdjson does not skip and JSON parsers may.
// simdjson validates the whole of it (UTF-8 included) at memory speed; `padded`: the buffer has
// SIMDJSON_PADDING bytes allocated past the text, else simdjson copies it. The result lives
// until `use` returns; then a parser that grew past kKeep for a very large body is replaced, so
// that a worker does not keep that memory.
template <class Use>
void parse_in_thread(std::string_view text, bool padded, Use&& use) {
  simdjson::dom::parser& parser = thread_parser();
  if (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);
  use(parser.parse(text.data(), text.size(), !padded), text);
  if (parser.capacity() > kKeep) parser = simdjson::dom::parser();
}

// Whether no object or array in `e` is nested deeper than `levels` (the root's counts as one).
// Recursion stops at `levels`.
bool within_depth(simdjson::dom::element e, std::uint32_t levels) {
  using Type = simdjson::dom::element_type;
  switch (e.type()) {
    case Type::OBJECT:
      if (levels == 0) return false;
      for (const auto member : simdjson::dom::object(e))
        if (!within_depth(member.value, levels - 1)) return false;
      return true;
    case Type::ARRAY:
      if (levels == 0) return false;
      for (const auto item : simdjson::dom::array(e))
        if (!within_depth(item, levels - 1)) return false;
      return true;
    default: return true;
  }
}

// Feeds `sax` the events of the body `text`, or the reason it is not JSON. A NUL byte is
// refused: no JSON holds one, and parsers that stop at it (nlohmann does, on some texts) would
// read `{...}\0{...}` otherwise than the rest.
void read_body(std::string_view text, bool padded, BodySax& sax) {
  if (std::memchr(text.data(), '\0', text.size())) {
    sax.fail(BodySax::Stop::syntax);
    return;
  }
  parse_in_thread(text, padded, [&](const auto& root, std::string_view json_text) {
    switch (root.error()) {
      case simdjson::SUCCESS: walk(root.value_unsafe(), sax); break;
      case simdjson::NUMBER_ERROR:
      case simdjson::NUMBER_OUT_OF_RANGE: {
        SlowEvents slow{sax};
        json::sax_parse(json_text.begin(), json_text.end(), &slow);
        break;
      }
      case simdjson::DEPTH_ERROR: sax.fail(BodySax::Stop::too_deep); break;
      default: sax.fail(BodySax::Stop::syntax); break;
    }
  });
}

// Appends `e` to `out` as canonical_body() spells it, leaving out the members of an object
// named in `without` (recursion bounded by the depth the body was accepted with).
void canonical(simdjson::dom::element e, std::string& out,
               std::span<const std::string_view> without = {}) {
  using Type = simdjson::dom::element_type;
  const auto text = [&out](std::string_view s) {
    append_chars(out, s.size());
    out += ':';
    out.append(s);
  };
  const auto number = [&out](char tag, auto v) {
    out += tag;
    append_chars(out, v);
    out += ',';
  };
  switch (e.type()) {
    case Type::OBJECT: {
      std::vector<simdjson::dom::key_value_pair> members;
      for (const auto member : simdjson::dom::object(e))
        if (std::find(without.begin(), without.end(), member.key) == without.end())
          members.push_back(member);
      std::stable_sort(members.begin(), members.end(),
                       [](const auto& a, const auto& b) { return a.key < b.key; });
      out += '{';
      for (const auto& m : members) {
        text(m.key);
        canonical(m.value, out);
      }
      out += '}';
      return;
    }
    case Type::ARRAY:
      out += '[';
      for (const auto item : simdjson::dom::array(e)) canonical(item, out);
      out += ']';
      return;
    case Type::STRING:
      out += 's';
      text(std::string_view(e));
      return;
    case Type::INT64: number('i', std::int64_t(e)); return;
    case Type::UINT64: number('u', std::uint64_t(e)); return;
    case Type::DOUBLE: number('d', double(e)); return;
    case Type::BOOL: out += bool(e) ? 't' : 'f'; return;
    case Type::NULL_VALUE: out += 'n'; return;
  }
}

struct MemberSpans {
  BodySpan member;  // from the key's opening quote to the end of the value
  BodySpan value;
};

// The position just past the string whose opening quote is at `i`: the next quote that an even
// number of backslashes precede (memchr finds quotes at memory speed; prompts are long strings).
std::size_t skip_string(std::string_view s, std::size_t i) {
  for (++i; i < s.size(); ++i) {
    const void* quote = std::memchr(s.data() + i, '"', s.size() - i);
    if (!quote) break;
    i = static_cast<std::size_t>(static_cast<const char*>(quote) - s.data());
    std::size_t backslashes = 0;
    while (s[i - 1 - backslashes] == '\\') ++backslashes;
    if (backslashes % 2 == 0) return i + 1;
  }
  return s.size();
}

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// The spans of the `index`th member of the top-level object in `s`, which must be valid JSON
// (checked by the SAX pass first, so this scan only has to find boundaries).
MemberSpans member_spans(std::string_view s, std::size_t index) {
  std::size_t i = s.find('{') + 1;
  for (std::size_t m = 0;; ++m) {
    while (is_space(s[i]) || s[i] == ',') ++i;
    MemberSpans out;
    out.member.begin = i;
    i = skip_string(s, i);
    while (is_space(s[i]) || s[i] == ':') ++i;
    out.value.begin = i;
    for (int depth = 0; i < s.size(); ++i) {
      const char c = s[i];
      if (c == '"') {
        i = skip_string(s, i) - 1;
      } else if (c == '{' || c == '[') {
        ++depth;
      } else if (c == '}' || c == ']' || c == ',') {
        if (depth == 0) break;
        if (c != ',') --depth;
      }
    }
    std::size_t end = i;
    while (is_space(s[end - 1])) --end;
    out.value.end = out.member.end = end;
    if (m == index) return out;
  }
}

Error bad(std::string message, std::string param = {}) {
  return make_error(Reason::bad_request, std::move(message), std::move(param));
}

}  // namespace

namespace {

// An answer's usage, from its DOM (see is_bounded_json with usage); counts written
// otherwise than as unsigned integers (34.0, 3.4e1) are left to extract_usage's scan of `text`,
// as they were before the DOM was read.
std::optional<Usage> usage_of(simdjson::dom::element root, std::string_view text) {
  simdjson::dom::object usage;
  if (root["usage"].get(usage)) {
    // Some upstreams give a stream's usage one level down (Groq: "x_groq": {"usage": …}).
    simdjson::dom::object top;
    if (root.get(top)) return std::nullopt;
    const auto nested = [&](const auto& member) {
      simdjson::dom::object inner;
      return !member.value.get(inner) && !inner["usage"].get(usage);
    };
    if (std::none_of(top.begin(), top.end(), nested)) return std::nullopt;
  }
  const auto in = usage["prompt_tokens"], out = usage["completion_tokens"];
  if (in.error() == simdjson::NO_SUCH_FIELD || in.is_null()) return std::nullopt;
  const bool no_output = out.error() == simdjson::NO_SUCH_FIELD || out.is_null();
  std::uint64_t input = 0, output = 0;
  if (in.get(input) || (!no_output && out.get(output))) return extract_usage(text);
  return Usage{std::min(input, kMaxReportedTokens), std::min(output, kMaxReportedTokens), true};
}

// is_bounded_json, and with `usage`, the answer's usage as well.
bool bounded_json(std::string_view text, std::uint32_t max_depth, std::optional<Usage>* usage) {
  if (std::memchr(text.data(), '\0', text.size())) return false;
  // The slow paths below read usage by extract_usage's scan.
  const auto scanned = [&](bool ok) {
    if (ok && usage) *usage = extract_usage(text);
    return ok;
  };
  if (text.size() > kKeep) {
    // A long answer (up to max_response_bytes): a padded copy and a DOM would take several
    // times its size; nlohmann's events take none, at a tenth of the speed.
    DepthSax sax(max_depth);
    return scanned(json::sax_parse(text.begin(), text.end(), &sax));
  }
  bool ok = false;
  parse_in_thread(text, false, [&](const auto& root, std::string_view json_text) {
    switch (root.error()) {
      // Each level takes two bytes (its brackets): a shorter text cannot be too deep.
      case simdjson::SUCCESS:
        ok = json_text.size() < 2 * (std::size_t{max_depth} + 1) ||
             within_depth(root.value_unsafe(), max_depth);
        if (ok && usage) *usage = usage_of(root.value_unsafe(), json_text);
        break;
      case simdjson::NUMBER_ERROR:
      case simdjson::NUMBER_OUT_OF_RANGE: {
        DepthSax sax(max_depth);
        ok = scanned(json::sax_parse(json_text.begin(), json_text.end(), &sax));
        break;
      }
      default: break;
    }
  });
  return ok;
}

}  // namespace

bool is_bounded_json(std::string_view text, std::uint32_t max_depth) {
  return bounded_json(text, max_depth, nullptr);
}

bool is_bounded_json(std::string_view text, std::uint32_t max_depth, std::optional<Usage>& usage) {
  return bounded_json(text, max_depth, &usage);
}

Result<ApiRequest> parse_api_request(Endpoint endpoint, std::string body, BodyLimits limits) {
  BodySax sax(endpoint, limits);
  static_assert(kJsonPadding >= simdjson::SIMDJSON_PADDING);
  read_body(body, body.capacity() - body.size() >= kJsonPadding, sax);
  switch (sax.stop_) {
    case BodySax::Stop::none: break;
    case BodySax::Stop::syntax:
      return bad("We could not parse the JSON body of your request. The body must be valid JSON.");
    case BodySax::Stop::too_deep:
      return bad("The JSON body of your request is nested more than " +
                 std::to_string(limits.max_depth) + " levels deep.");
    case BodySax::Stop::too_many_members:
      return bad("The request body has more than " +
                 std::to_string(limits.max_top_level_members) + " top-level parameters.");
    case BodySax::Stop::duplicate_key:
      return bad("The request body names the parameter '" + sax.duplicate_ + "' more than once.",
                 sax.duplicate_);
  }
  if (sax.root_ != Kind::object) return bad("The request body must be a JSON object.");
  if (sax.model_kind_ != Kind::string || sax.model_.empty())
    return bad("you must provide a model parameter", "model");

  const std::string input = sax.input_key_;
  if (sax.input_kind_ == Kind::null)
    return bad("Missing required parameter: '" + input + "'.", input);
  if (endpoint == Endpoint::chat_completions &&
      (sax.input_kind_ != Kind::array || sax.input_empty_))
    return bad("'messages' must be a non-empty array.", "messages");

  if (sax.stream_kind_ != Kind::null && sax.stream_kind_ != Kind::boolean)
    return bad("'stream' must be a boolean.", "stream");
  const bool stream = sax.stream_kind_ == Kind::boolean && sax.stream_;
  if (stream && endpoint == Endpoint::embeddings)
    return bad("Embeddings do not support streaming.", "stream");
  if (sax.stream_options_kind_ != Kind::null) {
    if (sax.stream_options_kind_ != Kind::object)
      return bad("'stream_options' must be an object.", "stream_options");
    if (!stream)
      return bad("The 'stream_options' parameter is only allowed when 'stream' is enabled.",
                 "stream_options");
    if (sax.include_usage_kind_ != Kind::null && sax.include_usage_kind_ != Kind::boolean)
      return bad("'include_usage' must be a boolean.", "stream_options.include_usage");
  }

  ApiRequest r;
  r.endpoint = endpoint;
  r.model = std::move(sax.model_);
  r.stream = stream;
  r.include_usage = sax.include_usage_kind_ == Kind::boolean && sax.include_usage_;
  if (sax.logprobs_index_ != SIZE_MAX)
    r.logprobs_value = member_spans(body, sax.logprobs_index_).value;
  if (sax.n_index_ != SIZE_MAX) r.n_value = member_spans(body, sax.n_index_).value;
  r.model_value = member_spans(body, sax.model_index_).value;
  if (sax.stream_options_index_ != SIZE_MAX) {
    auto so = member_spans(body, sax.stream_options_index_);
    r.stream_options_member = so.member;
    r.stream_options_value = so.value;
  }
  r.prompt = sax.prompt_.take();
  r.session = !sax.prompt_cache_key_.empty() ? std::move(sax.prompt_cache_key_)
                                              : std::move(sax.user_);
  r.body = std::move(body);
  return r;
}

std::string forward_body(const ApiRequest& req, std::string_view model_id, UsageOption usage,
                         bool logprobs, std::uint32_t choices) {
  const std::string_view in = req.body;
  // At most four edits, applied in body order: the model's value (and members added after it),
  // stream_options, logprobs' value and n's value.
  struct Edit {
    BodySpan span;
    std::string text;
  };
  std::vector<Edit> edits;
  edits.reserve(4);
  // The id is a config string, valid UTF-8 (the loader checks): escaping makes it JSON.
  Edit model{req.model_value, "\""};
  append_json_escaped(model.text, model_id);
  model.text.push_back('"');
  if (logprobs && !req.asks_logprobs() && req.endpoint == Endpoint::chat_completions) {
    if (req.logprobs_value.empty()) model.text += R"(,"logprobs":true)";
    else edits.push_back({req.logprobs_value, "true"});  // false or null: asked after all
  }
  if (choices > 1 &&
      (req.endpoint == Endpoint::chat_completions || req.endpoint == Endpoint::completions)) {
    if (req.n_value.empty()) model.text += R"(,"n":)" + std::to_string(choices);
    else if (req.asks_one_choice()) edits.push_back({req.n_value, std::to_string(choices)});
  }
  if (req.stream && usage != UsageOption::as_sent) {
    if (req.stream_options_member.empty()) {
      if (usage == UsageOption::request)
        model.text += R"(,"stream_options":{"include_usage":true})";
    } else {
      // stream_options is small and depth-bounded: re-serialising just it is cheap. Text that
      // simdjson took and nlohmann does not (a lone surrogate escape) is left as sent.
      const BodySpan v = req.stream_options_value;
      auto so = json::parse(in.substr(v.begin, v.end - v.begin), nullptr, false);
      if (so.is_object()) {
        if (usage == UsageOption::request) so["include_usage"] = true;
        else so.erase("include_usage");
        if (!so.empty()) {
          edits.push_back({v, so.dump(-1, ' ', false, json::error_handler_t::replace)});
        } else {
          // Remove the member with one of its commas: the one after it, else the one before.
          BodySpan m = req.stream_options_member;
          std::size_t after = m.end;
          while (is_space(in[after])) ++after;
          if (in[after] == ',') {
            m.end = after + 1;
          } else {
            while (is_space(in[m.begin - 1])) --m.begin;
            if (in[m.begin - 1] == ',') --m.begin;
          }
          edits.push_back({m, {}});
        }
      }
    }
  }
  edits.push_back(std::move(model));
  std::sort(edits.begin(), edits.end(),
            [](const Edit& a, const Edit& b) { return a.span.begin < b.span.begin; });
  std::string out;
  out.reserve(in.size() + 64);
  std::size_t at = 0;
  for (const Edit& e : edits) {
    out.append(in.substr(at, e.span.begin - at));
    out.append(e.text);
    at = e.span.end;
  }
  out.append(in.substr(at));
  return out;
}

std::optional<CanonicalBody> canonical_body(std::string_view body,
                                            std::span<const std::string_view> without,
                                            bool any_temperature) {
  std::optional<CanonicalBody> out;
  // Unpadded: a copy in the parser's padded buffer, a memcpy.
  parse_in_thread(body, false, [&](const auto& parsed, std::string_view) {
    if (parsed.error() || !parsed.value_unsafe().is_object()) return;
    const simdjson::dom::element root = parsed.value_unsafe();
    out.emplace();
    const auto t = root["temperature"];
    out->temperature_zero = !t.error() && t.is_number() && t.get_double().value_unsafe() == 0;
    if (out->temperature_zero || any_temperature) {
      out->text.reserve(body.size());
      canonical(root, out->text, without);
    }
  });
  return out;
}

}  // namespace switchyard

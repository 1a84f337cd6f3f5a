// Data-plane scanners: SSE splitting, usage extraction, URLs and request validation.
#include "api/prompt.hpp"
#include "api/request.hpp"
#include "api/usage.hpp"
#include "core/hash.hpp"
#include "upstream/retry_after.hpp"
#include "upstream/sse.hpp"
#include "upstream/url.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <limits>

namespace switchyard {
namespace {

TEST(Sse, SplitsEventsAcrossArbitraryPieces) {
  const std::string stream = "data: {\"a\":1}\n\ndata: {\"b\":2}\r\n\r\n: comment\n\ndata: [DONE]\n\n";
  for (std::size_t piece = 1; piece <= stream.size(); ++piece) {
    SseSplitter s;
    std::vector<std::string> events;
    for (std::size_t i = 0; i < stream.size(); i += piece) {
      s.feed(std::string_view(stream).substr(i, piece));
      for (auto e = s.next(); !e.empty(); e = s.next()) events.emplace_back(e);
    }
    ASSERT_EQ(events.size(), 4u) << "piece " << piece;
    EXPECT_EQ(events[0], "data: {\"a\":1}\n\n");
    EXPECT_EQ(events[1], "data: {\"b\":2}\r\n\r\n");
    EXPECT_EQ(events[3], "data: [DONE]\n\n");
    EXPECT_EQ(s.pending(), 0u);
  }
}

TEST(Sse, ReportsOverflowOfUnterminatedEvent) {
  SseSplitter s(16);
  s.feed("data: 0123456789abcdef");
  EXPECT_TRUE(s.next().empty());
  EXPECT_TRUE(s.overflowed());
}

TEST(Usage, ExtractsFromBodyAndChunk) {
  auto u = extract_usage(
      R"({"choices":[{"message":{"content":"the \"usage\": {\"prompt_tokens\": 999}"}}],)"
      R"("usage": {"prompt_tokens": 12, "completion_tokens": 34, "total_tokens": 46}})");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->input_tokens, 12u);
  EXPECT_EQ(u->output_tokens, 34u);
  EXPECT_FALSE(extract_usage(R"({"choices":[],"usage":null})"));
  EXPECT_FALSE(extract_usage(R"({"choices":[{"delta":{"content":"hi"}}]})"));
  auto emb = extract_usage(R"({"data":[],"usage":{"prompt_tokens":5,"total_tokens":5}})");
  ASSERT_TRUE(emb);
  EXPECT_EQ(emb->output_tokens, 0u);
}

TEST(Usage, AnUpstreamsCountIsReadAsAtMostTwoToThe32) {
  // 2^64 - 1 and 2^63: a rate limit charged either would wrap.
  const std::string body = R"({"usage":{"prompt_tokens":18446744073709551615,)"
                           R"("completion_tokens":9223372036854775808}})";
  auto scanned = extract_usage(body);
  ASSERT_TRUE(scanned);
  EXPECT_EQ(scanned->input_tokens, kMaxReportedTokens);
  EXPECT_EQ(scanned->output_tokens, kMaxReportedTokens);
  std::optional<Usage> parsed;
  ASSERT_TRUE(is_bounded_json(body, 64, parsed));
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->input_tokens, kMaxReportedTokens);
  EXPECT_EQ(parsed->output_tokens, kMaxReportedTokens);
  EXPECT_EQ(extract_usage(R"({"usage":{"prompt_tokens":7,"completion_tokens":4294967296}})")
                ->output_tokens,
            kMaxReportedTokens);  // 2^32 itself
}

TEST(Usage, ReadFromTheParseThatChecksTheAnswer) {
  // As extract_usage reads them, from the same parse as the answer's check: the fast path (a
  // DOM) and the slow one (a number simdjson does not hold: nlohmann's events, then the scan).
  for (const std::string number : {"1", "123456789012345678901234567890"}) {
    std::optional<Usage> u;
    ASSERT_TRUE(is_bounded_json(
        R"({"choices":[{"message":{"content":"the \"usage\": {\"prompt_tokens\": 999}"}}],)"
        R"("n":)" + number + R"(,"usage": {"prompt_tokens": 12, "completion_tokens": 34}})",
        64, u));
    ASSERT_TRUE(u) << number;
    EXPECT_EQ(u->input_tokens, 12u);
    EXPECT_EQ(u->output_tokens, 34u);
    EXPECT_TRUE(u->reported);
  }
  std::optional<Usage> groq;  // a stream's last chunk from Groq: usage one level down
  EXPECT_TRUE(is_bounded_json(R"({"choices":[],"x_groq":{"id":"r","usage":)"
                              R"({"prompt_tokens":5,"completion_tokens":2}}})",
                              64, groq));
  ASSERT_TRUE(groq);
  EXPECT_EQ(groq->input_tokens, 5u);
  EXPECT_EQ(groq->output_tokens, 2u);
  std::optional<Usage> none;
  EXPECT_TRUE(is_bounded_json(R"({"choices":[],"usage":null})", 64, none));
  EXPECT_FALSE(none);
  EXPECT_TRUE(is_bounded_json(R"({"usage":{"completion_tokens":3}})", 64, none));
  EXPECT_FALSE(none);  // no prompt_tokens
  std::optional<Usage> emb;
  EXPECT_TRUE(is_bounded_json(R"({"data":[],"usage":{"prompt_tokens":5,"total_tokens":5}})", 64,
                              emb));
  ASSERT_TRUE(emb);
  EXPECT_EQ(emb->output_tokens, 0u);
  std::optional<Usage> decimal;  // counts as decimals: scanned, as extract_usage reads them
  EXPECT_TRUE(is_bounded_json(R"({"usage":{"prompt_tokens":12.0,"completion_tokens":3.4e1}})",
                              64, decimal));
  ASSERT_TRUE(decimal);
  EXPECT_EQ(decimal->input_tokens, 12u);
  EXPECT_EQ(decimal->output_tokens, 3u);  // from_chars stops at the '.', as before
  std::optional<Usage> kept = Usage{1, 2, true};
  EXPECT_FALSE(is_bounded_json(R"({"usage":{"prompt_tokens":5})", 64, kept));  // not JSON
  EXPECT_EQ(kept->input_tokens, 1u);
}

TEST(Usage, RecognisesUsageOnlyChunk) {
  EXPECT_TRUE(is_usage_only_chunk(R"(data: {"choices":[],"usage":{"prompt_tokens":1}})"));
  EXPECT_TRUE(is_usage_only_chunk(R"(data: {"choices": [ ], "usage": {}})"));
  EXPECT_FALSE(is_usage_only_chunk(R"(data: {"choices":[{"delta":{}}],"usage":null})"));
}

TEST(Usage, CostGoesFirstInTheUsageObject) {
  const std::string priced = with_usage_cost(
      "data: {\"choices\":[],\"usage\": {\"prompt_tokens\":3,\"completion_tokens\":5}}\n\n", 0.0125);
  ASSERT_EQ(priced.substr(0, 6), "data: ");
  auto j = nlohmann::json::parse(priced.substr(6));
  EXPECT_DOUBLE_EQ(j["usage"]["cost"].get<double>(), 0.0125);
  EXPECT_EQ(j["usage"]["prompt_tokens"], 3);
  EXPECT_EQ(j["usage"]["completion_tokens"], 5);
  EXPECT_EQ(priced.substr(priced.size() - 2), "\n\n");
  auto empty = nlohmann::json::parse(with_usage_cost(R"({"choices":[],"usage":{ }})", 1));
  EXPECT_DOUBLE_EQ(empty["usage"]["cost"].get<double>(), 1.0);
  EXPECT_EQ(with_usage_cost(R"({"choices":[],"usage":null})", 1), "");
  EXPECT_EQ(with_usage_cost(R"({"choices":[]})", 1), "");
  EXPECT_EQ(with_usage_cost(R"({"choices":[],"usage":{"cost":0.5,"prompt_tokens":1}})", 1), "");
}

TEST(RetryAfter, MillisecondsSecondsAndHttpDates) {
  using std::chrono::system_clock;
  const auto now = system_clock::from_time_t(784111777);  // Sun, 06 Nov 1994 08:49:37 GMT
  EXPECT_EQ(retry_after_ms("1500", "9", now), 1500u);  // retry-after-ms wins
  EXPECT_EQ(retry_after_ms("", "9", now), 9000u);
  EXPECT_EQ(retry_after_ms("soon", "2", now), 2000u);  // a malformed -ms falls back
  EXPECT_EQ(retry_after_ms("", "Sun, 06 Nov 1994 08:49:40 GMT", now), 3000u);
  EXPECT_EQ(retry_after_ms("", "Sunday, 06-Nov-94 08:50:37 GMT", now), 60000u);
  EXPECT_EQ(retry_after_ms("", "Sun Nov  6 08:49:38 1994", now), 1000u);
  EXPECT_EQ(retry_after_ms("", "Sun, 06 Nov 1994 08:49:00 GMT", now), 0u);  // already past
  EXPECT_EQ(retry_after_ms("", "Sun, 06 Nov 1994 08:49:40 GMT trailing", now), 0u);
  EXPECT_EQ(retry_after_ms("", "", now), 0u);
  EXPECT_EQ(retry_after_ms("", "-5", now), 0u);
  // Past what the result holds, without overflow on the way: seconds whose milliseconds wrap
  // 64 bits, a date after 2262 (nanoseconds since 1970 wrap), one before 1677.
  constexpr auto most = std::numeric_limits<std::uint32_t>::max();
  EXPECT_EQ(retry_after_ms("", "18446744073709552", now), most);
  EXPECT_EQ(retry_after_ms("", "Fri, 31 Dec 9999 23:59:59 GMT", now), most);
  EXPECT_EQ(retry_after_ms("", "Sun, 06 Nov 1500 08:49:40 GMT", now), 0u);
}

TEST(Usage, CostFromPrices) {
  ModelConfig m;
  m.price_usd_per_mtok = {2.0, 8.0};
  EXPECT_DOUBLE_EQ(cost_usd(Usage{1'000'000, 500'000, true}, m), 6.0);
}

TEST(Url, ParsesSchemesPortsAndPrefixes) {
  auto a = parse_url("https://api.openai.com/v1/");
  ASSERT_TRUE(a);
  EXPECT_TRUE(a->tls);
  EXPECT_EQ(a->host, "api.openai.com");
  EXPECT_EQ(a->port, "443");
  EXPECT_EQ(a->prefix, "/v1");
  auto b = parse_url("http://127.0.0.1:9001");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->port, "9001");
  EXPECT_EQ(b->prefix, "");
  EXPECT_EQ(b->host_header, "127.0.0.1:9001");
  auto c = parse_url("http://[::1]:8000/v1");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->host, "::1");
  for (const char* bad : {"ftp://x", "http://", "http://h:0", "http://h:99999", "http://u@h/",
                          "http://h/v1?x=1", "http://h:12ab"})
    EXPECT_FALSE(parse_url(bad)) << bad;
}

TEST(Request, Validates) {
  auto r = parse_api_request(Endpoint::chat_completions,
                             R"({"model":"m","messages":[{"role":"user","content":"x"}],"stream":true})");
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->stream);
  EXPECT_FALSE(r->include_usage);
  auto e = parse_api_request(Endpoint::embeddings, R"({"model":"m","input":"x","stream":true})");
  ASSERT_FALSE(e);
  EXPECT_EQ(e.error().param, "stream");
  auto so = parse_api_request(Endpoint::chat_completions,
                              R"({"model":"m","messages":[{"role":"user","content":"x"}],)"
                              R"("stream_options":{"include_usage":true}})");
  ASSERT_FALSE(so);
  EXPECT_EQ(so.error().param, "stream_options");
  EXPECT_FALSE(parse_api_request(Endpoint::chat_completions, "[1,2]"));
  EXPECT_FALSE(parse_api_request(Endpoint::completions, R"({"model":"m"})"));
}

std::string nested(std::size_t depth) {
  return R"({"model":"m","messages":[)" + std::string(depth, '[') + std::string(depth, ']') + "]}";
}

TEST(Request, DeepNestingIsA400NotACrash) {
  // The probe from issue 6: 70,000 levels once overflowed the stack when re-serialised.
  auto r = parse_api_request(Endpoint::chat_completions, nested(70000));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().status, 400);
  EXPECT_NE(r.error().message.find("nested more than 64 levels"), std::string::npos);
  // The top object and messages take two levels: 62 more brackets is exactly the limit.
  EXPECT_TRUE(parse_api_request(Endpoint::chat_completions, nested(62)));
  EXPECT_FALSE(parse_api_request(Endpoint::chat_completions, nested(63)));
  EXPECT_FALSE(is_bounded_json(std::string(100000, '['), 64));
  EXPECT_TRUE(is_bounded_json(R"({"a":[[1]]})", 3));
  EXPECT_FALSE(is_bounded_json(R"({"a":[[1]]})", 2));
  EXPECT_FALSE(is_bounded_json(R"({"a":1)", 8));
}

TEST(Request, BoundedJsonAcceptsWhatJsonAllowsAndNothingElse) {
  // simdjson does the check; what it cannot hold (an integer past 64 bits) goes to nlohmann.
  EXPECT_TRUE(is_bounded_json(R"({"n":123456789012345678901234567890,"x":[1.5e3]})", 2));
  EXPECT_FALSE(is_bounded_json(R"({"n":123456789012345678901234567890,"x":[[1]]})", 2));
  EXPECT_TRUE(is_bounded_json("\xEF\xBB\xBF{\"a\":1}", 1));  // a byte-order mark
  EXPECT_TRUE(is_bounded_json(R"("just a string")", 0));
  EXPECT_TRUE(is_bounded_json("[]", 1));
  EXPECT_FALSE(is_bounded_json("[]", 0));
  EXPECT_FALSE(is_bounded_json("", 8));
  EXPECT_FALSE(is_bounded_json("{} {}", 8));
  EXPECT_FALSE(is_bounded_json(std::string("{\"a\":\"x\0y\"}", 11), 8));  // a NUL byte
  EXPECT_FALSE(is_bounded_json(std::string("[1]\0", 4), 8));
  EXPECT_FALSE(is_bounded_json("{\"a\":\"\xC3\x28\"}", 8));  // not UTF-8
  EXPECT_FALSE(is_bounded_json(R"({"a":"\ud800"})", 8));         // half a surrogate pair
  EXPECT_FALSE(is_bounded_json(R"({"a":1,})", 8));
}

TEST(Request, DuplicateTopLevelKeysAreRejected) {
  const std::string past_the_keys_held_in_place =
      R"({"a":1,"b":1,"c":1,"d":1,"e":1,"f":1,"g":1,"h":1,"i":1,"j":1,)"
      R"("model":"a","messages":[1],"e":2})";
  const std::vector<std::string> bodies = {
      R"({"model":"a","model":"b","messages":[1]})",
      R"({"model":"a","mod\u0065l":"b","messages":[1]})",
      R"({"model":"a","messages":[1],"stream":false,"stream":true})",
      // the slow parser's path (an integer past 64 bits)
      R"({"seed":123456789012345678901234567890,"model":"a","model":"b"})",
      past_the_keys_held_in_place};
  for (const std::string& body : bodies) {
    auto r = parse_api_request(Endpoint::chat_completions, body);
    ASSERT_FALSE(r) << body;
    EXPECT_EQ(r.error().status, 400);
    EXPECT_NE(r.error().message.find("more than once"), std::string::npos) << body;
  }
  // Below the top level, duplicates are the upstream's business: forwarded as sent.
  EXPECT_TRUE(parse_api_request(Endpoint::chat_completions,
                                R"({"model":"a","messages":[{"role":"user","role":"x"}]})"));
}

TEST(Request, ForwardsTheClientsBytesWithOnlyTheModelReplaced) {
  const std::string body =
      "{ \"seed\" : 123456789012345678901234567890,\n \"z\":1, \"a\":[1.50, 2e3],"
      " \"model\" :\t\"auto\" , \"messages\":[{\"role\":\"user\",\"content\":\"hi \\\"model\\\"\"}]}";
  auto r = parse_api_request(Endpoint::chat_completions, body);
  ASSERT_TRUE(r) << r.error().message;
  std::string expected = body;
  expected.replace(expected.find("\"auto\""), 6, "\"gpt-4o\"");
  EXPECT_EQ(forward_body(*r, "gpt-4o", UsageOption::request), expected);  // not a stream
}

TEST(Request, AnUpstreamModelIdIsWrittenAsAJsonString) {
  auto r = parse_api_request(Endpoint::chat_completions,
                             R"({"model":"auto","messages":[{"role":"user","content":"hi"}]})");
  ASSERT_TRUE(r) << r.error().message;
  const std::string out = forward_body(*r, "org/m\"1\\é\t", UsageOption::as_sent);
  EXPECT_EQ(out, R"({"model":"org/m\"1\\é\u0009","messages":[{"role":"user","content":"hi"}]})");
  EXPECT_EQ(nlohmann::json::parse(out)["model"], "org/m\"1\\é\t");
}

TEST(Request, ALongPromptBeforeTheModelAndItsEscapesAreReadAndForwardedByteForByte) {
  // As the OpenAI SDKs send it: messages first. The content ends in an escaped backslash and
  // holds escaped quotes, so that the scan for the model's span must tell them apart.
  const std::string long_text(100'000, 'x');
  const std::string body = R"({"messages":[{"role":"user","content":"a \"model\": \\"},)"
                           R"({"role":"assistant","content":"ok"},{"role":"user","content":")" +
                           long_text + R"(\\"}],"model":"auto","n":1})";
  auto r = parse_api_request(Endpoint::chat_completions, body);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->model, "auto");
  EXPECT_EQ(r->prompt.text, long_text + "\\");
  EXPECT_EQ(r->prompt.user_turns, 2u);
  std::string expected = body;
  expected.replace(expected.rfind("\"auto\""), 6, "\"gpt-4o\"");
  EXPECT_EQ(forward_body(*r, "gpt-4o", UsageOption::as_sent), expected);
}

TEST(Request, AByteOrderMarkIsSkippedAndANulByteIsNotJson) {
  const std::string body = R"({"model":"m","messages":[{"role":"user","content":"x"}]})";
  auto bom = parse_api_request(Endpoint::chat_completions, "\xEF\xBB\xBF" + body);
  ASSERT_TRUE(bom) << bom.error().message;
  EXPECT_EQ(bom->model, "m");
  // What follows a NUL would pass a parser that stops there, and be read otherwise upstream.
  for (const std::string& bad : {body + std::string(1, '\0') + R"({"model":"other"})",
                                 std::string(1, '\0') + body}) {
    auto r = parse_api_request(Endpoint::chat_completions, bad);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("could not parse"), std::string::npos);
  }
  // An integer past 64 bits is JSON, and kept as sent; a number past a double's range is not
  // taken (RFC 8259 lets a parser limit the range).
  auto big = parse_api_request(Endpoint::chat_completions,
                               R"({"model":"m","seed":-123456789012345678901234567890,)"
                               R"("messages":[{"role":"user","content":"x"}]})");
  ASSERT_TRUE(big) << big.error().message;
  EXPECT_EQ(big->prompt.text, "x");
  EXPECT_FALSE(parse_api_request(Endpoint::chat_completions,
                                 R"({"model":"m","seed":1e999,"messages":[1]})"));
}

TEST(Request, TextThatIsNotUnicodeIsA400) {
  // Bytes that are not UTF-8, and escapes of half a surrogate pair, are not text an upstream
  // can read: refused here, as nlohmann's parser (the fuzzer's reference) refuses them.
  for (const std::string& content : {std::string("\xff\xfe"), std::string("\xc0\x80"),
                                    std::string("\xed\xa0\x80"), std::string("\\ud800"),
                                    std::string("\\udc00 x"), std::string("\\ud800\\u0041")}) {
    auto r = parse_api_request(Endpoint::chat_completions,
                               R"({"model":"m","messages":[{"role":"user","content":")" +
                                   content + R"("}]})");
    ASSERT_FALSE(r) << content;
    EXPECT_EQ(r.error().status, 400);
  }
  auto pair = parse_api_request(
      Endpoint::chat_completions,
      R"({"model":"m","messages":[{"role":"user","content":"\ud83d\ude00"}]})");
  ASSERT_TRUE(pair) << pair.error().message;
  EXPECT_EQ(pair->prompt.text, "\xF0\x9F\x98\x80");
}

TEST(Request, TheCanonicalBodyHasOneTextPerMeaning) {
  constexpr std::string_view kWithout[] = {"user"};
  const auto text = [&](std::string_view body) {
    auto c = canonical_body(body, kWithout);
    EXPECT_TRUE(c) << body;
    return c ? c->text : "";
  };
  const std::string head = R"({"model":"m","temperature":0,"messages":[)";
  const std::string base = text(head + R"({"role":"user","content":"A b"}],"n":100})");
  // Spacing, key order at every level, escapes, a byte-order mark, another spelling of a
  // double, and the members left out do not change it.
  EXPECT_EQ(text("\xEF\xBB\xBF { \"n\" : 100, \"messages\" : [ { \"content\" : \"\\u0041 b\", "
                 "\"role\":\"user\"} ], \"temperature\":0, \"user\":\"u1\", \"model\":\"m\" }"),
            base);
  EXPECT_EQ(text(R"({"x":1e2,"y":0.5})"), text(R"({"y":5e-1,"x":100.0})"));
  // What the model would see otherwise does.
  for (const char* other : {R"({"role":"user","content":"A c"}],"n":100})",
                            R"({"role":"user","content":"A b"}],"n":100.0})",
                            R"({"role":"user","content":"A b"}],"n":"100"})",
                            R"({"role":"user","content":"A b"}]})",
                            R"({"content":"A b","role":"user"},{}],"n":100})",
                            R"({"role":"user","content":"A b","user":1}],"n":100})"})
    EXPECT_NE(text(head + other), base) << other;
  // Strings are not confused with what follows them, nor keys with values.
  EXPECT_NE(text(R"({"a":"b\"c","d":"e"})"), text(R"({"a":"b","c\"d":"e"})"));
  EXPECT_NE(text(R"({"a":["1:x","y"]})"), text(R"({"a":["1:x,y"]})"));
  EXPECT_NE(text(R"({"a":[[],[[]]]})"), text(R"({"a":[[[]],[]]})"));
  // Determinism: a numeric temperature of 0 only.
  for (std::string_view zero : {R"({"temperature":0})", R"({"temperature":0.0})",
                                R"({"temperature":-0.0})", R"({"temperature":0e5})"})
    EXPECT_TRUE(canonical_body(zero, kWithout)->temperature_zero) << zero;
  for (std::string_view not_zero : {R"({"temperature":0.1})", R"({"temperature":"0"})",
                                    R"({"temperature":null})", R"({"x":{"temperature":0}})"})
    EXPECT_FALSE(canonical_body(not_zero, kWithout)->temperature_zero) << not_zero;
  // Only for a deterministic request, unless any temperature will do.
  EXPECT_EQ(canonical_body(R"({"temperature":1})", kWithout, false)->text, "");
  EXPECT_EQ(canonical_body(R"({"temperature":0})", kWithout, false)->text,
            canonical_body(R"({"temperature":0})", kWithout)->text);
  // What simdjson does not hold is not cached rather than misread.
  EXPECT_FALSE(canonical_body(R"({"seed":123456789012345678901234567890})", kWithout));
}

TEST(Request, TheConversationOfALongFirstMessageIsHashedFromItsEnds) {
  const auto conversation = [](const std::string& first) {
    auto r = parse_api_request(Endpoint::chat_completions,
                               R"({"model":"m","messages":[{"role":"user","content":")" + first +
                                   R"("}]})");
    EXPECT_TRUE(r);
    return r ? conversation_of(r->prompt) : 0;
  };
  const std::string middle(50'000, 'm');
  const auto base = conversation("start " + middle + " end");
  EXPECT_NE(base, 0u);
  EXPECT_EQ(conversation("start " + middle + " end"), base);
  EXPECT_NE(conversation("Start " + middle + " end"), base);
  EXPECT_NE(conversation("start " + middle + " End"), base);
  EXPECT_NE(conversation("start " + middle + "m end"), base);  // another length
  EXPECT_NE(conversation("short"), conversation("shorT"));
}

TEST(Hash, WordsAreStableAndPartsAreSeparated) {
  // Values from an independent implementation of the same steps (Python, little-endian words):
  // replicas and restarts must agree on a conversation's key.
  EXPECT_EQ(hash_words({"hello, world!"}), 0xe97c541bc6b00475ull);
  EXPECT_EQ(hash_words({"ab", "c"}), 0x5bf840c108d2fea7ull);
  EXPECT_EQ(hash_words({"a", "bc"}), 0xc59c4abc9851e3d6ull);
  EXPECT_EQ(hash_words({}), 0x14650fb0739d0383ull);
}

TEST(Request, AsksForLogprobsWhereTheClientDoesNot) {
  const std::string msgs = R"("messages":[{"role":"user","content":"x"}])";
  auto fwd = [&](Endpoint e, const std::string& body) {
    auto r = parse_api_request(e, body);
    EXPECT_TRUE(r) << body;
    return r ? forward_body(*r, "up", UsageOption::as_sent, true) : "";
  };
  EXPECT_EQ(fwd(Endpoint::chat_completions, R"({"model":"m",)" + msgs + "}"),
            R"({"model":"up","logprobs":true,)" + msgs + "}");
  // Asked where the client said no (the gate strips them from the answer again); a client that
  // asked keeps its own.
  for (const char* v : {"false", "null", "true"}) {
    const std::string body = R"({"logprobs" : )" + std::string(v) + R"(,"model":"m",)" + msgs + "}";
    EXPECT_EQ(fwd(Endpoint::chat_completions, body),
              R"({"logprobs" : true,"model":"up",)" + msgs + "}");
    EXPECT_EQ(parse_api_request(Endpoint::chat_completions, body)->asks_logprobs(),
              std::string(v) == "true");
  }
  // Legacy completions count logprobs differently: left alone.
  EXPECT_EQ(fwd(Endpoint::completions, R"({"model":"m","prompt":"x"})"),
            R"({"model":"up","prompt":"x"})");
}

TEST(Request, AdjustsStreamOptionsWhereverTheyAre) {
  auto fwd = [](const std::string& body, UsageOption u) {
    auto r = parse_api_request(Endpoint::chat_completions, body);
    EXPECT_TRUE(r) << body;
    auto out = forward_body(*r, "up", u);
    EXPECT_TRUE(is_bounded_json(out, 8)) << out;
    return out;
  };
  const std::string msgs = R"("messages":[{"role":"user","content":"x"}])";
  EXPECT_EQ(fwd(R"({"model":"m","stream":true,)" + msgs + "}", UsageOption::request),
            R"({"model":"up","stream_options":{"include_usage":true},"stream":true,)" + msgs + "}");
  EXPECT_EQ(fwd(R"({"stream_options":{"x":1},"model":"m","stream":true,)" + msgs + "}",
                UsageOption::request),
            R"({"stream_options":{"include_usage":true,"x":1},"model":"up","stream":true,)" +
                msgs + "}");
  // Stripped: the member goes with one comma, wherever it stands.
  EXPECT_EQ(fwd(R"({"stream_options": {"include_usage":false} , "model":"m","stream":true,)" +
                    msgs + "}",
                UsageOption::strip),
            R"({ "model":"up","stream":true,)" + msgs + "}");
  EXPECT_EQ(fwd(R"({"model":"m","stream":true,)" + msgs +
                    R"(, "stream_options":{"include_usage":false}})",
                UsageOption::strip),
            R"({"model":"up","stream":true,)" + msgs + "}");
  EXPECT_EQ(fwd(R"({"model":"m","stream":true,"stream_options":{"include_usage":true},)" + msgs +
                    "}",
                UsageOption::as_sent),
            R"({"model":"up","stream":true,"stream_options":{"include_usage":true},)" + msgs +
                "}");
}

TEST(Request, ReadsThePromptAndTheConversationsShape) {
  auto chat = parse_api_request(
      Endpoint::chat_completions,
      R"({"model":"m","messages":[{"role":"system","content":"You are a lawyer."},)"
      R"({"role":"developer","content":"Be brief."},{"role":"user","content":"first"},)"
      R"({"role":"assistant","content":"ok"},)"
      R"({"content":[{"type":"text","text":"second"},{"type":"image_url","image_url":{"url":"x"}}],"role":"user"}],)"
      R"("tools":[{"type":"function","function":{"name":"f"}}],"response_format":{"type":"json_object"}})");
  ASSERT_TRUE(chat);
  const PromptInfo& p = chat->prompt;
  EXPECT_EQ(p.text, "second");
  EXPECT_EQ(p.system, "You are a lawyer.\nBe brief.");
  EXPECT_EQ(p.messages, 5u);
  EXPECT_EQ(p.user_turns, 2u);
  EXPECT_EQ(p.chars, 17u + 9 + 5 + 2 + 6);
  EXPECT_TRUE(p.images);
  EXPECT_TRUE(p.tools);
  EXPECT_TRUE(p.json_output);

  auto plain = parse_api_request(
      Endpoint::chat_completions,
      R"({"model":"m","messages":[{"role":"user","content":"hi"}],"tools":[],)"
      R"("response_format":{"type":"text"}})");
  ASSERT_TRUE(plain);
  EXPECT_FALSE(plain->prompt.images);
  EXPECT_FALSE(plain->prompt.tools);  // an empty list
  EXPECT_FALSE(plain->prompt.json_output);
  EXPECT_TRUE(plain->prompt.system.empty());

  auto prompt = parse_api_request(Endpoint::completions, R"({"model":"m","prompt":"p\n"})");
  ASSERT_TRUE(prompt);
  EXPECT_EQ(prompt->prompt.text, "p\n");
  EXPECT_EQ(prompt->prompt.chars, 2u);
}

}  // namespace
}  // namespace switchyard

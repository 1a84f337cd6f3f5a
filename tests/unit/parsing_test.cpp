// Data-plane scanners: SSE splitting, usage extraction, URLs and request validation.
#include "api/request.hpp"
#include "api/usage.hpp"
#include "upstream/sse.hpp"
#include "upstream/url.hpp"

#include <gtest/gtest.h>

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

TEST(Usage, RecognisesUsageOnlyChunk) {
  EXPECT_TRUE(is_usage_only_chunk(R"(data: {"choices":[],"usage":{"prompt_tokens":1}})"));
  EXPECT_TRUE(is_usage_only_chunk(R"(data: {"choices": [ ], "usage": {}})"));
  EXPECT_FALSE(is_usage_only_chunk(R"(data: {"choices":[{"delta":{}}],"usage":null})"));
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

}  // namespace
}  // namespace switchyard

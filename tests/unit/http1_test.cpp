#include "core/http1.hpp"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

namespace switchyard::http1 {
namespace {

using Fields = std::vector<std::pair<std::string, std::string>>;

struct Parsed {
  error_code ec;
  Head head;
  Fields fields;
};

// A head at the start of `text` parsed as a request or a response, its fields collected.
template <bool Request = false>
Parsed parse(std::string_view text) {
  Parsed out;
  std::size_t from = 0;
  const std::size_t end = head_end(text, from);
  if (end == 0) {
    out.ec = Error::need_more;
    return out;
  }
  const auto collect = [&](std::string_view n, std::string_view v) {
    out.fields.emplace_back(n, v);
  };
  out.ec = Request ? parse_request_head(text.substr(0, end), out.head, collect)
                   : parse_response_head(text.substr(0, end), out.head, collect);
  return out;
}

Parsed parse_request(std::string_view text) { return parse<true>(text); }

struct Decoded {
  error_code ec;
  std::string body;
  std::size_t used = 0;
  bool done = false;
};

// Decodes `bytes` in pieces of `step` bytes (0: all at once), each piece as a read would bring
// it: what the decoder left unconsumed is offered again with the next bytes.
Decoded decode(Framing f, std::uint64_t length, std::string_view bytes, std::size_t step = 0,
               std::size_t limit = SIZE_MAX) {
  BodyDecoder d;
  d.start(f, length);
  Decoded out;
  const auto take = [&](std::string_view b) {
    if (out.body.size() + b.size() > limit) return false;
    out.body.append(b);
    return true;
  };
  std::size_t have = 0;
  while (!d.done() && !out.ec) {
    const std::size_t upto = step == 0 ? bytes.size() : std::min(bytes.size(), have + step);
    const std::size_t before = out.used;
    out.used += d.put(bytes.substr(out.used, upto - out.used), take, out.ec);
    if (upto == bytes.size() && out.used == before) break;  // nothing more to give
    have = upto;
  }
  out.done = d.done();
  return out;
}

TEST(Http1, ParsesAResponseHeadAndItsFraming) {
  auto p = parse(
      "HTTP/1.1 200 OK\r\nContent-Type:  application/json \r\nX-A: 1\t2\r\n"
      "Content-Length: 12\r\n\r\n{\"ok\":true}X");
  ASSERT_FALSE(p.ec) << p.ec.message();
  EXPECT_EQ(p.head.status, 200);
  EXPECT_EQ(p.head.version, 11);
  EXPECT_EQ(p.head.framing, Framing::length);
  EXPECT_EQ(p.head.length, 12u);
  EXPECT_TRUE(p.head.keep_alive);
  EXPECT_EQ(p.fields, (Fields{{"Content-Type", "application/json"}, {"X-A", "1\t2"},
                              {"Content-Length", "12"}}));

  EXPECT_EQ(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n\r\n").head.framing,
            Framing::chunked);
  const auto until_close = parse("HTTP/1.1 200 OK\r\n\r\n");
  EXPECT_EQ(until_close.head.framing, Framing::until_close);
  EXPECT_FALSE(until_close.head.keep_alive);
  for (const char* bodyless : {"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n",
                               "HTTP/1.1 304 Not Modified\r\n\r\n", "HTTP/1.1 100 Continue\r\n\r\n",
                               "HTTP/1.1 103 \r\nLink: </a>\r\n\r\n"}) {
    const auto b = parse(bodyless);
    EXPECT_FALSE(b.ec) << bodyless;
    EXPECT_EQ(b.head.framing, Framing::none) << bodyless;
    EXPECT_TRUE(b.head.keep_alive) << bodyless;
  }
}

TEST(Http1, KeepsTheConnectionAsTheVersionAndConnectionSay) {
  const auto kept = [](const char* text) {
    auto p = parse(text);
    EXPECT_FALSE(p.ec) << text;
    return p.head.keep_alive;
  };
  EXPECT_TRUE(kept("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"));
  EXPECT_FALSE(kept("HTTP/1.1 200 OK\r\nConnection: upgrade, Close\r\nContent-Length: 0\r\n\r\n"));
  EXPECT_FALSE(kept("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n"));
  EXPECT_TRUE(kept("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n"));
  EXPECT_FALSE(
      kept("HTTP/1.0 200 OK\r\nConnection: keep-alive, close\r\nContent-Length: 0\r\n\r\n"));
  EXPECT_EQ(parse("HTTP/1.1 200 OK\r\nConnection: cl/ose\r\n\r\n").ec, Error::bad_value);
}

TEST(Http1, RefusesEveryFramingTwoReadersCouldReadTwoWays) {
  const std::pair<const char*, Error> cases[] = {
      {"Content-Length: 5\r\nContent-Length: 5\r\n", Error::bad_content_length},
      {"Content-Length: 5, 5\r\n", Error::bad_content_length},
      {"Content-Length: +5\r\n", Error::bad_content_length},
      {"Content-Length: -1\r\n", Error::bad_content_length},
      {"Content-Length: 0x10\r\n", Error::bad_content_length},
      {"Content-Length: \r\n", Error::bad_content_length},
      {"Content-Length: 1234567890123456789\r\n", Error::bad_content_length},
      {"Transfer-Encoding: chunked, identity\r\n", Error::bad_transfer_encoding},
      {"Transfer-Encoding: xchunked\r\n", Error::bad_transfer_encoding},
      {"Transfer-Encoding: gzip\r\n", Error::bad_transfer_encoding},
      {"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
       Error::bad_transfer_encoding},
      {"Transfer-Encoding: chunked\r\nContent-Length: 3\r\n", Error::bad_transfer_encoding},
      {"Content-Length: 3\r\nTransfer-Encoding: chunked\r\n", Error::bad_transfer_encoding},
  };
  for (const auto& [fields, error] : cases) {
    const std::string text = std::string("HTTP/1.1 200 OK\r\n") + fields + "\r\n";
    EXPECT_EQ(parse(text).ec, error) << text;
  }
  EXPECT_EQ(parse("HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n").ec,
            Error::bad_transfer_encoding);
  EXPECT_EQ(parse("HTTP/1.1 200 OK\r\nContent-Length: 123456789012345678\r\n\r\n").head.length,
            123456789012345678u);
}

TEST(Http1, RefusesMalformedHeads) {
  const std::pair<std::string, Error> cases[] = {
      {"HTTP/1.1 200 OK\r\nA: b\nc\r\n\r\n", Error::bad_value},           // bare LF
      {"HTTP/1.1 200 OK\r\nA: b\rc\r\n\r\n", Error::bad_line_ending},     // bare CR
      {"HTTP/1.1 200 OK\r\nA: b\r\n c\r\n\r\n", Error::bad_field},        // folded
      {"HTTP/1.1 200 OK\r\n A: b\r\n\r\n", Error::bad_field},             // leading space
      {"HTTP/1.1 200 OK\r\nA : b\r\n\r\n", Error::bad_field},             // space before ':'
      {"HTTP/1.1 200 OK\r\n: b\r\n\r\n", Error::bad_field},               // no name
      {"HTTP/1.1 200 OK\r\nA b\r\n\r\n", Error::bad_field},               // no colon
      {"HTTP/1.1 200 OK\r\nA\x01: b\r\n\r\n", Error::bad_field},          // CTL in the name
      {std::string("HTTP/1.1 200 OK\r\nA: b\0c\r\n\r\n", 27), Error::bad_value},
      {"HTTP/1.1 200 OK\r\nA: b\x7f\r\n\r\n", Error::bad_value},          // DEL
      {"HTTP/1.1 200 OK\r\nA: 0123456789\x1f" "abcdef\r\n\r\n", Error::bad_value},
      {"HTTP/1.2 200 OK\r\n\r\n", Error::bad_version},
      {"HTTP/2.0 200 OK\r\n\r\n", Error::bad_version},
      {"http/1.1 200 OK\r\n\r\n", Error::bad_version},
      {"HTTP/1.1 20 OK\r\n\r\n", Error::bad_status},
      {"HTTP/1.1 2x0 OK\r\n\r\n", Error::bad_status},
      {"HTTP/1.1 099 OK\r\n\r\n", Error::bad_status},
      {"HTTP/1.1 200\r\n\r\n", Error::bad_status},
      {"HTTP/1.1  200 OK\r\n\r\n", Error::bad_status},
      {"HTTP/1.1 200 O\x01K\r\n\r\n", Error::bad_reason},
  };
  for (const auto& [text, error] : cases) EXPECT_EQ(parse(text).ec, error) << text;
  // Obs-text is text.
  EXPECT_FALSE(parse("HTTP/1.1 200 \xc3\xa9t\xc3\xa9\r\nA: \xff\r\n\r\n").ec);
}

TEST(Http1, ParsesARequestHead) {
  const auto p = parse_request(
      "POST /v1/chat/completions?x=1 HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\n"
      "Content-Length: 2\r\n\r\n{}");
  ASSERT_FALSE(p.ec) << p.ec.message();
  EXPECT_EQ(p.head.method, "POST");
  EXPECT_EQ(p.head.target, "/v1/chat/completions?x=1");
  EXPECT_EQ(p.head.version, 11);
  EXPECT_EQ(p.head.framing, Framing::length);
  EXPECT_EQ(p.head.length, 2u);
  EXPECT_EQ(p.head.hosts, 1);
  EXPECT_TRUE(p.head.expect_continue);
  EXPECT_TRUE(p.head.keep_alive);

  const auto get = parse_request("GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n");
  ASSERT_FALSE(get.ec);
  EXPECT_EQ(get.head.framing, Framing::none);  // no length, no chunks: no body
  EXPECT_EQ(get.head.hosts, 2);  // the reader refuses it, not the parser
  EXPECT_FALSE(get.head.keep_alive);
  EXPECT_FALSE(get.head.expect_continue);

  const std::pair<const char*, Error> cases[] = {
      {"POST  / HTTP/1.1\r\n\r\n", Error::bad_target},
      {"PO(ST / HTTP/1.1\r\n\r\n", Error::bad_method},
      {" POST / HTTP/1.1\r\n\r\n", Error::bad_method},
      {"POST /a b HTTP/1.1\r\n\r\n", Error::bad_version},
      {"POST /\x01 HTTP/1.1\r\n\r\n", Error::bad_target},
      {"POST /\xc3\xa9 HTTP/1.1\r\n\r\n", Error::bad_target},
      {"POST HTTP/1.1\r\n\r\n", Error::bad_target},
      {"POST / HTTP/1.1 \r\n\r\n", Error::bad_version},
      {"POST / HTTP/2\r\n\r\n", Error::bad_version},
      {"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", Error::bad_transfer_encoding},
      {"POST / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
       Error::bad_transfer_encoding},
  };
  for (const auto& [text, error] : cases) EXPECT_EQ(parse_request(text).ec, error) << text;
}

TEST(Http1, FindsTheEndOfAHeadHoweverItArrives) {
  const std::string text = "HTTP/1.1 200 OK\r\nA: b\r\n\r\nbody\r\n\r\n";
  const std::size_t end = text.find("body");
  for (std::size_t step = 1; step <= text.size(); ++step) {
    std::size_t from = 0, found = 0;
    for (std::size_t have = step; found == 0 && have <= text.size() + step; have += step)
      found = head_end(std::string_view(text).substr(0, std::min(have, text.size())), from);
    EXPECT_EQ(found, end) << "step " << step;
  }
  std::size_t from = 0;
  EXPECT_EQ(head_end("HTTP/1.1 200 OK\n\nA: b\r\n", from), 0u);  // bare LFs end nothing
}

TEST(Http1, DecodesChunksHoweverTheyArrive) {
  const std::string chunked =
      "5\r\nhello\r\n1A\r\n, and a chunk of 26 bytes.\r\n0\r\nTrailer: x\r\nB: \r\n\r\nNEXT";
  for (std::size_t step = 0; step <= chunked.size(); ++step) {
    const auto d = decode(Framing::chunked, 0, chunked, step);
    EXPECT_FALSE(d.ec) << "step " << step << ": " << d.ec.message();
    EXPECT_TRUE(d.done) << "step " << step;
    EXPECT_EQ(d.body, "hello, and a chunk of 26 bytes.") << "step " << step;
    EXPECT_EQ(d.used, chunked.size() - 4) << "step " << step;  // NEXT is the next message's
  }
  const auto length = decode(Framing::length, 5, "helloNEXT", 2);
  EXPECT_TRUE(length.done);
  EXPECT_EQ(length.body, "hello");
  EXPECT_EQ(length.used, 5u);
  EXPECT_TRUE(decode(Framing::length, 0, "NEXT").done);
  EXPECT_TRUE(decode(Framing::none, 0, "NEXT").done);
}

TEST(Http1, RefusesMalformedChunks) {
  const std::pair<const char*, Error> cases[] = {
      {"zz\r\n{}\r\n0\r\n\r\n", Error::bad_chunk},
      {"\r\n0\r\n\r\n", Error::bad_chunk},                  // no size
      {"2 \r\n{}\r\n0\r\n\r\n", Error::bad_chunk},          // space after the size
      {"2;ext=1\r\n{}\r\n0\r\n\r\n", Error::bad_chunk_extension},
      {"2\r\n{}X\r\n0\r\n\r\n", Error::bad_chunk},          // data longer than its size
      {"2\n{}\r\n0\r\n\r\n", Error::bad_chunk},             // bare LF
      {"2\r\n{}\r\r0\r\n\r\n", Error::bad_chunk},
      {"1000000000000000\r\n", Error::bad_chunk},           // 2^60: no such chunk
      {"0\r\nA b\r\n\r\n", Error::bad_field},               // trailer without a colon
      {"0\r\n: b\r\n\r\n", Error::bad_field},
      {"0\r\n b: c\r\n\r\n", Error::bad_field},             // folded trailer
      {"0\r\nA: b\x01\r\n\r\n", Error::bad_field},
      {"0\r\nContent-Length: 5\r\n\r\n", Error::bad_field},  // framing, too late
      {"0\r\nTransfer-encoding: chunked\r\n\r\n", Error::bad_field},
      {"0\r\nconnection: close\r\n\r\n", Error::bad_field},
      {"0\r\n\r\r", Error::bad_chunk},
  };
  for (const auto& [bytes, error] : cases) {
    const auto d = decode(Framing::chunked, 0, bytes);
    EXPECT_EQ(d.ec, error) << bytes;
    EXPECT_FALSE(d.done) << bytes;
  }
  // A chunk per event: a long stream has many, and their framing adds up to far more than one
  // size line's bound.
  std::string stream;
  for (int i = 0; i < 10'000; ++i) stream += "1\r\nx\r\n";
  const auto many = decode(Framing::chunked, 0, stream + "0\r\n\r\n", 4096);
  EXPECT_FALSE(many.ec) << many.ec.message();
  EXPECT_TRUE(many.done);
  EXPECT_EQ(many.body, std::string(10'000, 'x'));
  // Framing alone is bounded: a trailer that never ends.
  const std::string endless = "0\r\nA: " + std::string(BodyDecoder::kMaxFraming, 'x');
  EXPECT_EQ(decode(Framing::chunked, 0, endless).ec, Error::header_limit);
  EXPECT_FALSE(decode(Framing::chunked, 0, "0\r\nA: " + std::string(1000, 'x')).ec);
}

TEST(Http1, EndsABodyAtTheEndOfTheStreamOnlyWhenItsFramingSaysSo) {
  BodyDecoder d;
  d.start(Framing::until_close, 0);
  EXPECT_FALSE(d.done());
  EXPECT_FALSE(d.eof());
  EXPECT_TRUE(d.done());
  for (const auto f : {Framing::length, Framing::chunked}) {
    d.start(f, 10);
    EXPECT_EQ(d.eof(), Error::partial_message);
  }
}

TEST(Http1, StopsWhereTheCallerStopsTakingBytes) {
  const auto over = decode(Framing::chunked, 0, "5\r\nhello\r\n5\r\nworld\r\n0\r\n\r\n", 0, 8);
  EXPECT_EQ(over.ec, Error::body_limit);
  EXPECT_EQ(over.body, "hello");
  EXPECT_EQ(decode(Framing::until_close, 0, "0123456789", 3, 8).ec, Error::body_limit);
}

}  // namespace
}  // namespace switchyard::http1

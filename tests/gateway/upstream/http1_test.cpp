// The HTTP/1.1 head parser and chunked decoder, case by case (the fuzzer covers the rest):
// framing conflicts that enable request smuggling, repeated lengths, 100-continue, pipelining,
// HTTP/1.0, malformed lines, bounds.
#include "gateway/http/http1.hpp"

#include <gtest/gtest.h>

namespace infergate::gateway::http1 {
namespace {

struct HeadCase {
  const char* name;
  std::string bytes;
  Parse expected;
  BodyFraming framing = BodyFraming::kNone;
  std::uint64_t length = 0;
  bool keep_alive = true;
  bool http11 = true;
  bool expect_continue = false;
};

std::string req(const std::string& headers,
                const std::string& start = "POST /v1/completions HTTP/1.1") {
  return start + "\r\nHost: x\r\n" + headers + "\r\n";
}

TEST(Http1RequestHead, Table) {
  const std::vector<HeadCase> cases{
      {"plain GET", req("", "GET /v1/models HTTP/1.1"), Parse::kDone},
      {"content length", req("Content-Length: 12\r\n"), Parse::kDone, BodyFraming::kLength, 12},
      {"chunked", req("Transfer-Encoding: chunked\r\n"), Parse::kDone, BodyFraming::kChunked},
      {"CL and TE (smuggling)", req("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n"),
       Parse::kBad},
      {"TE and CL (smuggling)", req("Transfer-Encoding: chunked\r\nContent-Length: 5\r\n"),
       Parse::kBad},
      {"TE not ending in chunked", req("Transfer-Encoding: gzip\r\n"), Parse::kBad},
      {"TE chunked then gzip", req("Transfer-Encoding: chunked, gzip\r\n"), Parse::kBad},
      {"same Content-Length twice", req("Content-Length: 7\r\nContent-Length: 7\r\n"), Parse::kDone,
       BodyFraming::kLength, 7},
      {"different Content-Lengths", req("Content-Length: 7\r\nContent-Length: 8\r\n"), Parse::kBad},
      {"Content-Length list", req("Content-Length: 7, 8\r\n"), Parse::kBad},
      {"negative Content-Length", req("Content-Length: -1\r\n"), Parse::kBad},
      {"Content-Length with a sign", req("Content-Length: +1\r\n"), Parse::kBad},
      {"Content-Length overflowing 64 bits", req("Content-Length: 99999999999999999999999\r\n"),
       Parse::kBad},
      {"Expect: 100-continue", req("Content-Length: 2\r\nExpect: 100-continue\r\n"), Parse::kDone,
       BodyFraming::kLength, 2, true, true, true},
      {"HTTP/1.0 closes by default", req("", "GET / HTTP/1.0"), Parse::kDone, BodyFraming::kNone, 0,
       false, false},
      {"HTTP/1.0 keep-alive", req("Connection: keep-alive\r\n", "GET / HTTP/1.0"), Parse::kDone,
       BodyFraming::kNone, 0, true, false},
      {"HTTP/1.1 Connection: close", req("Connection: close\r\n", "GET / HTTP/1.1"), Parse::kDone,
       BodyFraming::kNone, 0, false},
      {"HTTP/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", Parse::kBad},
      {"unknown version", req("", "GET / HTTP/1.2"), Parse::kBad},
      {"space before the colon", req("Content-Length : 5\r\n"), Parse::kBad},
      {"obs-fold", req("X-A: 1\r\n continued\r\n"), Parse::kBad},
      {"control character in a value", req(std::string("X-A: a\x01z\r\n")), Parse::kBad},
      {"bare CR inside a value", req("X-A: a\rb\r\n"), Parse::kBad},
      {"bare LF line ends", "GET / HTTP/1.1\nHost: x\n\n", Parse::kDone},
      {"no target", "GET  HTTP/1.1\r\n\r\n", Parse::kBad},
      {"incomplete head", "POST /v1/completions HTTP/1.1\r\nHost: x\r\n", Parse::kIncomplete},
  };
  for (const auto& c : cases) {
    MessageHead head;
    const Parse p = parse_request_head(c.bytes, 64 << 10, head);
    EXPECT_EQ(p, c.expected) << c.name;
    if (p != Parse::kDone || c.expected != Parse::kDone) continue;
    EXPECT_EQ(head.size, c.bytes.size()) << c.name;
    EXPECT_EQ(head.framing, c.framing) << c.name;
    EXPECT_EQ(head.content_length, c.length) << c.name;
    EXPECT_EQ(head.keep_alive, c.keep_alive) << c.name;
    EXPECT_EQ(head.http11, c.http11) << c.name;
    EXPECT_EQ(head.expect_continue, c.expect_continue) << c.name;
  }
}

TEST(Http1RequestHead, PipelinedRequestsParseOneAtATime) {
  const std::string first = req("Content-Length: 2\r\n") + "{}";
  const std::string second = req("", "GET /v1/models HTTP/1.1");
  const std::string both = first + second;
  MessageHead head;
  ASSERT_EQ(parse_request_head(both, 64 << 10, head), Parse::kDone);
  EXPECT_EQ(head.method, "POST");
  EXPECT_EQ(head.size + head.content_length, first.size());
  MessageHead next;
  ASSERT_EQ(parse_request_head(std::string_view(both).substr(first.size()), 64 << 10, next),
            Parse::kDone);
  EXPECT_EQ(next.method, "GET");
  EXPECT_EQ(next.target, "/v1/models");
}

TEST(Http1RequestHead, HeadOverTheBoundIsTooLarge) {
  const std::string big = req("X-Big: " + std::string(2000, 'a') + "\r\n");
  MessageHead head;
  EXPECT_EQ(parse_request_head(big, 1024, head), Parse::kTooLarge);
  // Incomplete and already over the bound: too large, without waiting for the rest.
  EXPECT_EQ(parse_request_head(big.substr(0, 1500), 1024, head), Parse::kTooLarge);
}

TEST(Http1RequestHead, RequestHeadersAreKeptWithLowerCaseNames) {
  // All of them: the request path decides what it forwards (it drops hop-by-hop ones).
  MessageHead head;
  ASSERT_EQ(
      parse_request_head(req("Content-Length: 2\r\nConnection: keep-alive\r\nX-Kept: yes\r\n"),
                         64 << 10, head),
      Parse::kDone);
  std::vector<std::string> names;
  for (const auto& [name, value] : head.headers) names.emplace_back(name);
  EXPECT_EQ(names, (std::vector<std::string>{"host", "content-length", "connection", "x-kept"}));
}

struct ChunkCase {
  const char* name;
  std::string body;
  ChunkedDecoder::Result expected;
  std::string decoded;
};

TEST(Http1ChunkedBody, Table) {
  const std::vector<ChunkCase> cases{
      {"two chunks", "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n", ChunkedDecoder::Result::kDone, "abcde"},
      {"hex sizes", "a\r\n0123456789\r\n0\r\n\r\n", ChunkedDecoder::Result::kDone, "0123456789"},
      {"extension ignored", "3;name=v\r\nabc\r\n0\r\n\r\n", ChunkedDecoder::Result::kDone, "abc"},
      {"trailer ignored", "3\r\nabc\r\n0\r\nX-T: 1\r\n\r\n", ChunkedDecoder::Result::kDone, "abc"},
      {"not hex", "zz\r\nabc\r\n0\r\n\r\n", ChunkedDecoder::Result::kBad, ""},
      {"no CRLF after the data", "3\r\nabcX\r\n0\r\n\r\n", ChunkedDecoder::Result::kBad, ""},
      {"size overflowing", "fffffffffffffffffffff\r\n", ChunkedDecoder::Result::kBad, ""},
      {"not finished", "3\r\nabc\r\n", ChunkedDecoder::Result::kMore, "abc"},
  };
  for (const auto& c : cases) {
    // Whole, then one byte at a time: the same result.
    std::string whole = c.body;
    ChunkedDecoder d1;
    EXPECT_EQ(d1.decode(whole, 0), c.expected) << c.name;
    if (c.expected != ChunkedDecoder::Result::kBad) {
      EXPECT_EQ(whole, c.decoded) << c.name;
    }
    std::string pieces;
    ChunkedDecoder d2;
    ChunkedDecoder::Result r = ChunkedDecoder::Result::kMore;
    for (const char ch : c.body) {
      const std::size_t from = pieces.size();
      pieces.push_back(ch);
      r = d2.decode(pieces, from);
      if (r != ChunkedDecoder::Result::kMore) break;
    }
    EXPECT_EQ(r, c.expected) << c.name << " (byte by byte)";
    if (c.expected != ChunkedDecoder::Result::kBad) {
      EXPECT_EQ(pieces, c.decoded) << c.name;
    }
  }
}

}  // namespace
}  // namespace infergate::gateway::http1

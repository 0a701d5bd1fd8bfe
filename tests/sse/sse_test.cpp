// The SSE writer, read back by the reference parser (tests/support) that the gateway's own
// scanner is fuzzed against; and that parser on its own.
#include "sse/sse.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "support/sse_parser.hpp"

namespace infergate::sse {
namespace {

using Event = testing::SseEvent;
using testing::SseParser;

std::vector<std::string> parse_in_pieces(std::string_view stream, std::size_t piece) {
  SseParser parser;
  std::vector<std::string> events;
  const auto collect = [&](const Event& e) { events.emplace_back(e.data); };
  for (std::size_t i = 0; i < stream.size(); i += piece) {
    EXPECT_EQ(parser.feed(stream.substr(i, piece), collect), SseParser::Status::kOk);
  }
  parser.finish(collect);
  EXPECT_EQ(parser.buffered(), 0u);
  return events;
}

TEST(Sse, AppendEventFramesPayload) {
  std::string out;
  append_event(out, R"({"a":1})");
  append_done(out);
  EXPECT_EQ(out, "data: {\"a\":1}\n\ndata: [DONE]\n\n");
}

TEST(Sse, APayloadWithLineBreaksGoesOutAsSeveralDataLines) {
  std::string out;
  append_event(out, "{\n  \"a\": 1\r\n}\r");
  EXPECT_EQ(out, "data: {\ndata:   \"a\": 1\ndata: }\ndata: \n\n");
  append_event(out, "");
  EXPECT_EQ(out.substr(out.size() - 8), "data: \n\n");
  // Read back: the lines joined with "\n", whatever broke them.
  const auto events = parse_in_pieces(out, 3);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0], "{\n  \"a\": 1\n}\n");
  EXPECT_EQ(events[1], "");
}

TEST(Sse, AppendEventInPlaceWritesWhatTheCallerSerialises) {
  std::string out = "data: x\n\n";
  append_event_in_place(out, [](std::string& o) {
    o += R"({"id":")";
    o += "cmpl-1";
    o += R"("})";
  });
  EXPECT_EQ(out, "data: x\n\ndata: {\"id\":\"cmpl-1\"}\n\n");
}

TEST(Sse, ReassemblesEventsSplitAtEveryByte) {
  std::string stream;
  append_event(stream, R"({"x":"one"})");
  append_event(stream, R"({"x":"two"})");
  append_event(stream, kDone);
  for (std::size_t piece : {1u, 2u, 3u, 7u, 1000u}) {
    const auto events = parse_in_pieces(stream, piece);
    ASSERT_EQ(events.size(), 3u) << piece;
    EXPECT_EQ(events[0], R"({"x":"one"})");
    EXPECT_EQ(events[2], "[DONE]");
  }
}

TEST(Sse, HandlesCrLfCommentsAndMultiLineData) {
  const std::string stream =
      ": keep-alive\r\n\r\nevent: message\r\ndata: a\r\ndata: b\r\n\r\ndata:c\n\n";
  SseParser parser;
  std::vector<std::pair<std::string, std::string>> events;
  parser.feed(stream, [&](const Event& e) { events.emplace_back(e.event, e.data); });
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].first, "message");
  EXPECT_EQ(events[0].second, "a\nb");
  EXPECT_EQ(events[1].second, "c");
}

TEST(Sse, FinishDeliversAnUnterminatedLastEventOnce) {
  SseParser parser;
  int n = 0;
  parser.feed("data: [DONE]\n", [&](const Event&) { ++n; });
  EXPECT_EQ(n, 0);
  parser.finish([&](const Event& e) {
    ++n;
    EXPECT_EQ(e.data, kDone);
  });
  parser.finish([&](const Event&) { ++n; });
  EXPECT_EQ(n, 1);
}

TEST(Sse, RejectsAnOversizedEvent) {
  SseParser parser(16);
  const auto status = parser.feed("data: 0123456789abcdefghij\n\n", [](const Event&) {});
  EXPECT_EQ(status, SseParser::Status::kEventTooLarge);
}

TEST(Sse, ParsesTheRecordedVllmStream) {
  std::ifstream in(INFERGATE_FIXTURES
                   "/sse/vllm/llm-d-docs_vllm-0.21_text_completion_stream_sanitized-ids.sse");
  ASSERT_TRUE(in) << "fixture missing";
  std::stringstream ss;
  ss << in.rdbuf();
  const auto events = parse_in_pieces(ss.str(), 5);
  ASSERT_GE(events.size(), 2u);
  EXPECT_EQ(events.back(), "[DONE]");
  EXPECT_NE(events.front().find("\"text_completion\""), std::string::npos);
}

}  // namespace
}  // namespace infergate::sse

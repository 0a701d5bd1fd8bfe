// The relay's stream scanner and JSON skimmer: the same answers as the SSE parser and the full
// JSON parser, found where the bytes lie.
#include "gateway/request/event_stream.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "gateway/request/response_json.hpp"

namespace infergate::gateway {
namespace {

// Feeds `stream` in pieces of `step` bytes as the relay does; returns the events' data.
std::vector<std::string> scan_all(std::string_view stream, std::size_t step,
                                  std::string* forwarded = nullptr,
                                  std::size_t max_event_bytes = 64) {
  EventStreamScanner scanner(max_event_bytes);
  std::vector<StreamEvent> events;
  std::vector<std::string> out;
  std::string buffer;
  for (std::size_t at = 0; at < stream.size(); at += step) {
    buffer.append(stream.substr(at, step));
    scanner.scan(buffer, events);
    for (const auto& e : events) out.emplace_back(e.data(buffer));
    events.clear();
    const std::size_t done = scanner.complete_end();
    if (forwarded) forwarded->append(buffer, 0, done);
    buffer.erase(0, done);
    scanner.discard(done);
  }
  scanner.finish(buffer, events);
  for (const auto& e : events) out.emplace_back(e.data(buffer));
  if (forwarded) *forwarded += buffer;
  return out;
}

void expect_same_answers(const ResponseJson& got, const ResponseJson& want, std::string_view doc) {
  EXPECT_EQ(got.valid, want.valid) << doc;
  EXPECT_EQ(got.model_offset, want.model_offset) << doc;
  EXPECT_EQ(got.model_length, want.model_length) << doc;
  EXPECT_EQ(got.content_pieces, want.content_pieces) << doc;
  ASSERT_EQ(got.usage.has_value(), want.usage.has_value()) << doc;
  if (got.usage) {
    EXPECT_EQ(got.usage->prompt_tokens, want.usage->prompt_tokens) << doc;
    EXPECT_EQ(got.usage->completion_tokens, want.usage->completion_tokens) << doc;
    EXPECT_EQ(got.usage->cached_tokens, want.usage->cached_tokens) << doc;
  }
}

TEST(EventStreamScanner, FindsEventsWhateverTheReadsAndLineEnds) {
  const std::string stream =
      "data: {\"a\":1}\n\n: keep-alive\n\nevent: x\ndata: two\r\ndata: lines\r\n\r\n"
      "data:no-space\r\rdata\n\ndata: [DONE]\n";
  const std::vector<std::string> expected{"{\"a\":1}", "two\nlines", "no-space", "", "[DONE]"};
  for (std::size_t step = 1; step <= stream.size(); ++step) {
    std::string forwarded;
    EXPECT_EQ(scan_all(stream, step, &forwarded), expected) << "reads of " << step << " bytes";
    EXPECT_EQ(forwarded, stream) << "every byte is handed on, in order";
  }
}

TEST(EventStreamScanner, AOneLineEventIsReportedWhereItLies) {
  EventStreamScanner scanner;
  std::vector<StreamEvent> events;
  const std::string buffer = "data: {\"model\":\"m\"}\n\ndata: x";
  scanner.scan(buffer, events);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].begin, 0u);
  EXPECT_EQ(events[0].end, 21u);
  EXPECT_FALSE(events[0].joined);
  EXPECT_EQ(buffer.substr(events[0].data_begin, events[0].data_end - events[0].data_begin),
            "{\"model\":\"m\"}");
  EXPECT_EQ(scanner.complete_end(), 21u) << "the unfinished event stays";
}

TEST(EventStreamScanner, AnOversizedEventIsReportedAndSkipped) {
  EventStreamScanner scanner(16);
  std::vector<StreamEvent> events;
  std::string buffer = "data: " + std::string(40, 'x');
  EXPECT_EQ(scanner.scan(buffer, events), EventStreamScanner::Status::kEventTooLarge);
  EXPECT_EQ(scanner.complete_end(), buffer.size()) << "its bytes can go: they are not held";
  scanner.discard(buffer.size());
  buffer = "xx\n\ndata: ok\n\n";
  EXPECT_EQ(scanner.scan(buffer, events), EventStreamScanner::Status::kOk);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].data(buffer), "ok");
}

TEST(SkimResponseJson, AgreesWithTheFullParser) {
  const std::vector<std::string> docs{
      R"({"id":"c","model":"m-1","choices":[{"index":0,"delta":{"content":"a"}}]})",
      R"({"model":"x","choices":[{"text":""},{"text":"b"}],"usage":{"prompt_tokens":3,"completion_tokens":2,"prompt_tokens_details":{"cached_tokens":1}}})",
      R"( { "choices" : [ {"message": {"role":"assistant","content":"hi \"there\""}} ] , "model" : "q\"m" } )",
      R"({"model":null,"usage":null,"choices":[{"delta":{"content":null}},7,{"text":"lost"}]})",
      R"({"usage":{"prompt_tokens":1.5,"completion_tokens":-4,"prompt_tokens_details":null}})",
      R"({"nested":{"model":"no","choices":[{"text":"no"}]},"model":"yes"})",
      R"({"mod\u0065l":"escaped key","choices":[]})",
      R"([1,2])",
      R"({"model":"unterminated)",
      "",
      R"({"a":[}]})"};
  // Keys and values of every length around the skimmer's word and short-string sizes, with an
  // escaped quote or backslash at every position (and documents cut short inside them).
  std::vector<std::string> generated = docs;
  for (std::size_t n = 0; n <= 40; ++n) {
    for (const std::string special : {R"(\")", R"(\\)", "x"}) {
      for (std::size_t at = 0; at <= n; ++at) {
        const std::string text = std::string(at, 'a') + special + std::string(n - at, 'b');
        const std::string doc = R"({")" + text + R"(":")" + text +
                                R"(","model":"m","choices":[{"delta":{"content":")" + text +
                                R"("}}],"m)" + text + R"(":1})";
        generated.push_back(doc);
        generated.push_back(doc.substr(0, 2 + at + n / 2));
      }
    }
  }
  for (const auto& doc : generated) {
    const ResponseJson fast = skim_response_json(doc);
    const ResponseJson full = inspect_response_json(doc);
    EXPECT_EQ(fast.valid, full.valid) << doc;
    if (full.valid) expect_same_answers(fast, full, doc);
  }
}

// Streams recorded from OpenAI's API (openai-python's test captures) and from vLLM: every read
// size finds the same events, forwards every byte, and the skimmer agrees with the full parser
// on each event's model, content and usage.
TEST(EventStreamScanner, RecordedStreamsInEveryReadSize) {
  int streams = 0;
  for (const char* dir : {"/sse/openai-python", "/sse/vllm"}) {
    for (const auto& entry :
         std::filesystem::directory_iterator(INFERGATE_FIXTURES_DIR + std::string(dir))) {
      if (entry.path().extension() != ".sse") continue;
      ++streams;
      std::ifstream in(entry.path(), std::ios::binary);
      std::stringstream ss;
      ss << in.rdbuf();
      const std::string stream = ss.str();
      std::string forwarded;
      const auto whole = scan_all(stream, stream.size(), &forwarded, 1 << 16);
      EXPECT_EQ(forwarded, stream) << entry.path();
      ASSERT_GE(whole.size(), 2u) << entry.path();
      EXPECT_EQ(whole.back(), "[DONE]") << entry.path();
      for (std::size_t step : {1, 7, 64, 1000}) {
        forwarded.clear();
        EXPECT_EQ(scan_all(stream, step, &forwarded, 1 << 16), whole)
            << entry.path() << " step " << step;
        EXPECT_EQ(forwarded, stream) << entry.path() << " step " << step;
      }
      int with_model = 0;
      StreamSkimmer stream_skimmer;  // the events in order, as the relay reads them
      for (std::size_t i = 0; i + 1 < whole.size(); ++i) {
        const ResponseJson fast = skim_response_json(whole[i]);
        expect_same_answers(stream_skimmer.skim(whole[i]), fast, whole[i]);
        const ResponseJson full = inspect_response_json(whole[i]);
        ASSERT_TRUE(full.valid) << entry.path() << ": " << whole[i];
        EXPECT_TRUE(fast.valid) << whole[i];
        EXPECT_EQ(fast.model_offset, full.model_offset) << whole[i];
        EXPECT_EQ(fast.model_length, full.model_length) << whole[i];
        EXPECT_EQ(fast.content_pieces, full.content_pieces) << whole[i];
        EXPECT_EQ(fast.usage.has_value(), full.usage.has_value()) << whole[i];
        with_model += full.model_length > 0;
      }
      EXPECT_EQ(with_model, static_cast<int>(whole.size()) - 1) << entry.path();
    }
  }
  EXPECT_EQ(streams, 8);
}

// A stream's skimmer compares an event's leading bytes with the previous event's instead of
// reading them: after any event, its answers for the next are skim_response_json's. Documents
// that share leading bytes with another and then differ: a number that goes on past the shared
// bytes, another model, members in another order, an escaped key, whitespace, a document cut
// short or followed by garbage, leading members longer than the skimmer keeps.
TEST(StreamSkimmer, AfterAnyEventTheSameAnswersAsSkimmingTheNextAlone) {
  const std::string long_id(600, 'x');
  const std::vector<std::string> docs = {
      R"({"id":"a","created":17,"model":"m","choices":[{"delta":{"content":"x"}}]})",
      R"({"id":"a","created":17,"model":"m","choices":[{"delta":{"content":""}}]})",
      R"({"id":"a","created":175,"model":"m","choices":[{"delta":{"content":"x"}}]})",
      R"({"id":"a","created":17,"model":"other","choices":[{"text":"y"}]})",
      R"({"id":"a","created":17,"model":"m","model":"n","choices":[]})",
      std::string(
          R"({"id":"a","created":17,"model":"m","choices":[],"usage":{"prompt_tokens":3,)") +
          R"("completion_tokens":4,"prompt_tokens_details":{"cached_tokens":2}}})",
      R"({"id":"a","created":17,"usage":{"prompt_tokens":1},"model":"m","choices":[]})",
      R"({"id":"a","created":17,"model":"m","choices":[{"text":"y"}]})",
      R"({"id":"a","created":17,"model":"m","ch\u006fices":[{"text":"y"}]})",
      R"({"id":"a","created":17,"model":"m","mod\u0065l":"t","choices":[]})",
      R"({"id":"a","created":17,"model":"m","choices":[{"text":"y"}]}garbage)",
      R"({"id":"a","created":17,"model":"m","choices":[{"text":)",
      R"({"id":"a","created":17,"model":"m",)",
      R"({"id":"a","created":17,"model":"m","choices":[}])",
      R"({"id":"a","created":17,"model":"m", "choices" : [ { "text" : "y" } ] })",
      R"({"id": "a", "created": 17, "model": "m", "choices": [{"text": "y"}]})",
      R"({"id": "a", "created": 17, "model": "m", "choices": [{"text": "y"}], "usage": null})",
      R"({"id":"a","created":17})",
      R"({"id":"a","created":17,"x":{"model":"no"},"model":"m","choices":[{"text":"y"}]})",
      R"({"id":")" + long_id + R"(","model":"m","choices":[{"text":"y"}]})",
      R"({"id":")" + long_id + R"(","model":"m","choices":[]})",
      R"({"model":"m","id":")" + long_id + R"(","choices":[{"text":"y"}]})",
      R"({"model":"m","id":"b","choices":[{"text":"y"}]})",
      R"({})",
      R"([])",
      "",
  };
  for (const std::string& first : docs) {
    for (const std::string& next : docs) {
      StreamSkimmer skimmer;
      skimmer.skim(first);
      SCOPED_TRACE("after " + first);
      expect_same_answers(skimmer.skim(next), skim_response_json(next), next);
      expect_same_answers(skimmer.skim(next), skim_response_json(next), next);  // and again
    }
  }
}

// vLLM's whole (not streamed) answer: the skimmer finds what the full parser finds.
TEST(SkimResponseJson, RecordedVllmAnswer) {
  std::ifstream in(INFERGATE_FIXTURES_DIR
                   "/sse/vllm/llm-d-docs_vllm-0.21_text_completion_nonstream_sanitized-ids.json");
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string doc = ss.str();
  const ResponseJson fast = skim_response_json(doc);
  const ResponseJson full = inspect_response_json(doc);
  ASSERT_TRUE(full.valid);
  EXPECT_TRUE(fast.valid);
  EXPECT_EQ(doc.substr(full.model_offset, full.model_length), "\"Qwen/Qwen3-VL-32B-Instruct\"");
  EXPECT_EQ(fast.model_offset, full.model_offset);
  EXPECT_EQ(fast.content_pieces, full.content_pieces);
  ASSERT_TRUE(full.usage && fast.usage);
  EXPECT_EQ(fast.usage->prompt_tokens, full.usage->prompt_tokens);
  EXPECT_EQ(fast.usage->completion_tokens, full.usage->completion_tokens);
}

}  // namespace
}  // namespace infergate::gateway

// Reading one streamed event's JSON the way the relay does for every event of every stream
// (skim_response_json: where the model is, usage, whether the event carries generated text),
// against simdjson's on-demand parse of the same document (inspect_response_json, which copies it
// into a padded buffer first). The events are the proxy benchmark's (bench/proxy/setup.sh), a
// vLLM 0.21 completion chunk and an OpenAI chat chunk (tests/fixtures/sse), and the last event
// of a stream that asked for usage. BM_ScanEvents finds the events of a whole stream in the
// buffer the relay reads it into (EventStreamScanner), per event.
#include <benchmark/benchmark.h>

#include <string>
#include <string_view>
#include <vector>

#include "gateway/request/event_stream.hpp"
#include "gateway/request/response_json.hpp"

namespace {

using infergate::gateway::inspect_response_json;
using infergate::gateway::skim_response_json;

constexpr std::string_view kEvents[] = {
    // bench/proxy/setup.sh (Python's json.dumps: a space after each ':' and ',')
    R"({"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 1700000000, )"
    R"("model": "bench-target", "choices": [{"index": 0, "delta": {"content": " word"}, )"
    R"("finish_reason": null}]})",
    // vLLM 0.21, /v1/completions
    R"({"id":"cmpl-abc124","object":"text_completion","created":1781036045,)"
    R"("model":"Qwen/Qwen3-VL-32B-Instruct","choices":[{"index":0,"text":" I","logprobs":null,)"
    R"("finish_reason":null,"stop_reason":null}]})",
    // OpenAI, /v1/chat/completions
    R"({"id":"chatcmpl-ABfw031mOJeYCSHe4yI2ZjOA6kMJL","object":"chat.completion.chunk",)"
    R"("created":1727346168,"model":"gpt-4o-2024-08-06","system_fingerprint":"fp_5050236cbd",)"
    R"("choices":[{"index":0,"delta":{"content":"I'm"},"logprobs":null,"finish_reason":null}]})",
    // the usage event at the end of a stream (stream_options.include_usage)
    R"({"id":"chatcmpl-ABfw031mOJeYCSHe4yI2ZjOA6kMJL","object":"chat.completion.chunk",)"
    R"("created":1727346168,"model":"gpt-4o-2024-08-06","system_fingerprint":"fp_5050236cbd",)"
    R"("choices":[],"usage":{"prompt_tokens":14,"completion_tokens":5,"total_tokens":19,)"
    R"("prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":)"
    R"({"reasoning_tokens":0}}})",
};

void BM_Skim(benchmark::State& state) {
  const std::string_view event = kEvents[state.range(0)];
  for (auto _ : state) benchmark::DoNotOptimize(skim_response_json(event));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * event.size()));
}
BENCHMARK(BM_Skim)->ArgName("event")->DenseRange(0, 3);

// A stream's events one after another, as the relay reads them: each event of the stream
// repeats the one before but for its generated text (four texts in turn).
void BM_StreamSkim(benchmark::State& state) {
  const std::string_view event = kEvents[state.range(0)];
  const std::size_t text = event.find("content\":") != std::string_view::npos
                               ? event.find("content\":")
                               : event.find("text\":");
  std::vector<std::string> stream;
  for (const char* piece : {"\" a\"", "\" bb\"", "\"ccc\"", "\"\""}) {
    std::string e(event);
    if (text != std::string_view::npos) {
      const std::size_t value = e.find('"', e.find(':', text));
      e.replace(value, e.find('"', value + 1) + 1 - value, piece);
    }
    stream.push_back(std::move(e));
  }
  infergate::gateway::StreamSkimmer skimmer;
  std::size_t i = 0;
  for (auto _ : state) benchmark::DoNotOptimize(skimmer.skim(stream[i++ % stream.size()]));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * event.size()));
}
BENCHMARK(BM_StreamSkim)->ArgName("event")->DenseRange(0, 3);

void BM_SimdjsonOnDemand(benchmark::State& state) {
  const std::string_view event = kEvents[state.range(0)];
  for (auto _ : state) benchmark::DoNotOptimize(inspect_response_json(event));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * event.size()));
}
BENCHMARK(BM_SimdjsonOnDemand)->ArgName("event")->DenseRange(0, 3);

// 100 events of one kind, each "data: <json>" and a blank line, with "\n" or "\r\n" line ends,
// scanned in one buffer; the time is per event.
void BM_ScanEvents(benchmark::State& state) {
  const std::string_view event = kEvents[state.range(0)];
  const std::string_view line_end = state.range(1) ? "\r\n" : "\n";
  constexpr int kEventsPerStream = 100;
  std::string stream;
  for (int i = 0; i < kEventsPerStream; ++i) {
    stream += "data: ";
    stream += event;
    stream += line_end;
    stream += line_end;
  }
  std::vector<infergate::gateway::StreamEvent> events;
  events.reserve(kEventsPerStream);
  for (auto _ : state) {
    infergate::gateway::EventStreamScanner scanner;
    events.clear();
    scanner.scan(stream, events);
    benchmark::DoNotOptimize(events.data());
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * kEventsPerStream));
}
BENCHMARK(BM_ScanEvents)->ArgNames({"event", "crlf"})->ArgsProduct({{0, 1, 2}, {0, 1}});

}  // namespace

BENCHMARK_MAIN();

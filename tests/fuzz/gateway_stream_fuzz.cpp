// libFuzzer target: a model server's event stream and the JSON in its events are untrusted.
// Differential: the relay's scanner must find the same events as the reference parser
// (tests/support/sse_parser.hpp), however the bytes are split into reads, and
// skim_response_json must agree with the full parser (inspect_response_json) on every document
// Boost.JSON accepts, and a stream's skimmer (StreamSkimmer) with skim_response_json on every
// event.
#include <boost/json/parse.hpp>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "gateway/request/event_stream.hpp"
#include "gateway/request/response_json.hpp"
#include "support/sse_parser.hpp"

namespace {
using namespace infergate;

// The same answers from both.
void check_same(const gateway::ResponseJson& a, const gateway::ResponseJson& b) {
  if (a.valid != b.valid || a.model_offset != b.model_offset || a.model_length != b.model_length ||
      a.content_pieces != b.content_pieces || a.usage.has_value() != b.usage.has_value())
    __builtin_trap();
  if (a.usage && (a.usage->prompt_tokens != b.usage->prompt_tokens ||
                  a.usage->completion_tokens != b.usage->completion_tokens ||
                  a.usage->cached_tokens != b.usage->cached_tokens))
    __builtin_trap();
}

void check_skim(std::string_view json) {
  const gateway::ResponseJson fast = gateway::skim_response_json(json);
  if (fast.valid && fast.model_offset + fast.model_length > json.size()) __builtin_trap();
  boost::system::error_code ec;
  (void)boost::json::parse(json, ec);
  if (ec) return;  // not JSON: only bounds matter
  check_same(fast, gateway::inspect_response_json(json));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  // The first byte chooses where reads end; the rest is the stream.
  const unsigned split = data[0];
  const std::string_view stream(reinterpret_cast<const char*>(data + 1), size - 1);
  check_skim(stream);

  constexpr std::size_t kMaxEvent = 256;
  std::vector<std::string> expected;
  testing::SseParser parser(kMaxEvent);
  bool too_large = false;
  too_large |= parser.feed(stream, [&](const testing::SseEvent& e) {
    expected.emplace_back(e.data);
  }) != testing::SseParser::Status::kOk;
  parser.finish([&](const testing::SseEvent& e) { expected.emplace_back(e.data); });

  gateway::EventStreamScanner scanner(kMaxEvent);
  std::vector<gateway::StreamEvent> events;
  std::vector<std::string> found;
  std::string buffer, forwarded;
  bool scanner_too_large = false;
  gateway::StreamSkimmer stream_skimmer;  // the events in order: each answer skim_response_json's
  std::size_t at = 0, step = 1 + split % 37;
  const auto take = [&] {
    for (const auto& e : events) {
      if (e.end > buffer.size() || e.begin > e.end || (!e.joined && e.data_end > e.end))
        __builtin_trap();
      found.emplace_back(e.data(buffer));
      check_skim(e.data(buffer));
      check_same(stream_skimmer.skim(e.data(buffer)), gateway::skim_response_json(e.data(buffer)));
    }
    events.clear();
  };
  while (at < stream.size()) {
    const std::size_t n = std::min(step, stream.size() - at);
    buffer.append(stream.substr(at, n));
    at += n;
    step = 1 + (step * 7 + split) % 61;
    scanner_too_large |= scanner.scan(buffer, events) != gateway::EventStreamScanner::Status::kOk;
    take();
    const std::size_t done = scanner.complete_end();
    if (done > buffer.size()) __builtin_trap();
    forwarded.append(buffer, 0, done);
    buffer.erase(0, done);
    scanner.discard(done);
  }
  scanner.finish(buffer, events);
  take();
  forwarded += buffer;
  if (forwarded != stream) __builtin_trap();  // every byte goes through, in order
  // Oversized events are bounded differently (the scanner counts whole events), so the events
  // are compared only when neither side met one.
  if (!too_large && !scanner_too_large && found != expected) __builtin_trap();
  return 0;
}

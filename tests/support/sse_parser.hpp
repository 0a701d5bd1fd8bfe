// The reference SSE parser: what tests and fuzzers read event streams with, and what the
// gateway's own scanner (gateway/request/event_stream.hpp, which finds events in place on the
// data path) is compared against in tests/fuzz/gateway_stream_fuzz.cpp.
//
// SseParser takes bytes in pieces of any size and yields whole events, so an event split
// across reads is reassembled before anyone parses its JSON. Lines may end in "\n", "\r\n" or
// "\r"; comment lines (":...") are skipped; several "data:" lines of one event are joined with
// "\n" (the SSE standard).
//
// Thread-safety: a parser belongs to one stream.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

namespace infergate::testing {

struct SseEvent {
  std::string_view event;  // the "event:" field, usually empty
  std::string_view data;
};

class SseParser {
 public:
  // `max_event_bytes` bounds the memory one event may use; a longer event is an error.
  explicit SseParser(std::size_t max_event_bytes = 1 << 20) : max_event_bytes_(max_event_bytes) {}

  enum class Status { kOk, kEventTooLarge };
  // Feeds bytes; calls `on_event` for each event completed by them. The views passed to
  // on_event are valid only during the call.
  Status feed(std::string_view bytes, const std::function<void(const SseEvent&)>& on_event);
  // The stream ended. A final event that lacks its closing blank line (some servers and
  // captures end with "data: [DONE]\n") is delivered rather than dropped.
  void finish(const std::function<void(const SseEvent&)>& on_event);
  // Bytes held for an event not yet complete.
  std::size_t buffered() const { return line_.size() + data_.size(); }

 private:
  void finish_line(const std::function<void(const SseEvent&)>& on_event);

  std::size_t max_event_bytes_;
  std::string line_;
  std::string data_;
  std::string event_;
  bool has_data_ = false;
  bool last_was_cr_ = false;
};

}  // namespace infergate::testing

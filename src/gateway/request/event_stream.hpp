// Finding the events of a server-sent event stream (text/event-stream) in the buffer the relay
// reads a model server's answer into, without copying them out: each complete event is
// reported by its byte range, and its data by where it sits in the buffer, so the relay can
// forward the bytes as they are and splice a new model value into them.
//
// The framing is the SSE standard's, as the reference parser that the fuzzer compares this
// scanner with implements it (tests/support/sse_parser.hpp): lines end in "\n", "\r\n" or
// "\r"; a blank line ends an event; comment lines (":...") and fields other than "data" are
// skipped; several "data" lines of one event are joined with "\n" (then the joined text is a
// copy, the rare case). An event longer than the bound is reported once and skipped.
//
// Usage: append bytes to the buffer, scan(buffer, events), forward or rewrite
// buffer[0, complete_end()), then drop those bytes and call discard() with their count.
//
// Thread-safety: a scanner belongs to one stream.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace infergate::gateway {

struct StreamEvent {
  std::size_t begin = 0;       // the event's first byte in the buffer
  std::size_t end = 0;         // one past its closing blank line
  std::size_t data_begin = 0;  // the data of a one-line event, in the buffer
  std::size_t data_end = 0;
  bool joined = false;  // several data lines: the data is `joined_data` instead
  std::string joined_data;

  std::string_view data(std::string_view buffer) const {
    return joined ? std::string_view(joined_data)
                  : buffer.substr(data_begin, data_end - data_begin);
  }
};

class EventStreamScanner {
 public:
  explicit EventStreamScanner(std::size_t max_event_bytes = 1 << 20)
      : max_event_bytes_(max_event_bytes) {}

  enum class Status { kOk, kEventTooLarge };
  // Scans what `buffer` holds past the previous scan and appends each event it completes to
  // `events`. Offsets are into `buffer` as it is now.
  Status scan(std::string_view buffer, std::vector<StreamEvent>& events);
  // The stream ended: a last event without its closing blank line is completed.
  void finish(std::string_view buffer, std::vector<StreamEvent>& events);
  // Bytes before this offset belong to complete events (or to skipped ones): they can go.
  std::size_t complete_end() const { return skipping_ ? pos_ : event_start_; }
  // The first `n` bytes (n <= complete_end()) were removed from the front of the buffer.
  void discard(std::size_t n);

 private:
  void line(std::string_view buffer, std::size_t begin, std::size_t end, std::size_t next,
            std::vector<StreamEvent>& events);
  void reset_event(std::size_t start);

  std::size_t max_event_bytes_;
  std::size_t event_start_ = 0;  // where the event being read begins
  std::size_t pos_ = 0;          // where the next line begins
  std::size_t searched_ = 0;     // no line end in [pos_, searched_)
  bool pending_cr_ = false;      // the last line ended with "\r" at the end of the buffer
  bool skipping_ = false;        // inside an oversized event
  bool partial_line_ = false;    // skipping: pos_ is inside a line that is not blank
  int data_lines_ = 0;
  std::size_t data_begin_ = 0, data_end_ = 0;
  std::string joined_;
};

}  // namespace infergate::gateway

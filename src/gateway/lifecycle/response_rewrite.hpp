// What relaying a model server's answer does to its bytes, whatever carries them: the
// standalone proxy's relay phase reads them from the upstream connection, the ext_proc front end
// gets them from Envoy in chunks. Both read usage and generated pieces (and the time of the
// first piece), and rewrite the model name back to the one the client asked for.
//
// Thread-safety: an EventRelay belongs to one response.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/clock.hpp"
#include "gateway/lifecycle/request_context.hpp"
#include "gateway/request/event_stream.hpp"
#include "gateway/request/response_json.hpp"

namespace infergate::gateway {

// An event stream (text/event-stream), read by read. Each event is found where it lies in the
// input buffer and skimmed (not parsed into a document). Bytes go on untouched, except that
// with a rewrite the client's name is spliced over the model value of each event (an event
// whose data spans several lines is framed again instead).
//
// Usage: append bytes to input(); send complete(); then consume(). At the stream's clean end,
// send finish().
class EventRelay {
 public:
  // `quoted_client_model` (a JSON string with its quotes; empty: no rewrite) must outlive the
  // relay; TTFT is measured from `started`.
  EventRelay(RequestRecord& record, const std::string& quoted_client_model, const Clock& clock,
             TimePoint started)
      : record_(record), client_model_(quoted_client_model), clock_(clock), started_(started) {}

  std::string& input() { return buffer_; }
  // The whole events the input holds, rewritten: valid until the next call. Only whole events
  // leave, so a stream cut inside an event never leaves half an event in front of an error
  // event; the incomplete rest waits for its end.
  std::string_view complete();
  // Whether complete() returned everything the input held.
  bool all_complete() const { return complete_ == buffer_.size(); }
  // What complete() returned was sent: it goes.
  void consume();
  // The stream ended cleanly: the rest (a last event without its blank line is whole all the
  // same), rewritten.
  std::string_view finish();
  // An event over the scanner's bound was skipped.
  bool oversized() const { return oversized_; }

 private:
  void take(const StreamEvent& e);

  RequestRecord& record_;
  const std::string& client_model_;
  const Clock& clock_;
  const TimePoint started_;
  EventStreamScanner scanner_;
  StreamSkimmer skimmer_;
  std::vector<StreamEvent> events_;
  std::string buffer_;        // upstream bytes: the event not yet complete, then what was appended
  std::string out_;           // with a rewrite: what goes to the client this time
  std::size_t copied_ = 0;    // with a rewrite: the buffer's bytes already in out_
  std::size_t complete_ = 0;  // what complete() returned ends here in the buffer
  bool first_content_ = true;
  bool oversized_ = false;
};

// A whole (non-stream) response body: its usage and generated pieces into `record`, and the
// body with its model rewritten back to `quoted_client_model` (empty: as it is).
std::string rewrite_whole_body(RequestRecord& record, std::string body,
                               const std::string& quoted_client_model);

}  // namespace infergate::gateway

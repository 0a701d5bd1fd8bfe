// Writing server-sent events, as OpenAI-compatible servers stream completions: the one SSE
// writer of the project (the gateway's relay, the simulator's streams).
//
// One event is "data: <payload>\n\n"; a stream ends with "data: [DONE]\n\n". A payload that
// holds line breaks ("\n", "\r\n" or "\r") goes out as one "data:" line per line, which a reader
// joins back with "\n" (the SSE standard).
//
// Reading is not here: the gateway finds events where they lie in its read buffer
// (gateway/request/event_stream.hpp); tests and fuzzers check it against the reference parser
// in tests/support/sse_parser.hpp.
//
// Thread-safety: pure functions.
#pragma once

#include <cassert>
#include <string>
#include <string_view>

namespace infergate::sse {

inline constexpr std::string_view kDone = "[DONE]";

// Appends one event carrying `payload` to `out`.
void append_event(std::string& out, std::string_view payload);

// Appends "data: [DONE]\n\n", the end of an OpenAI stream.
inline void append_done(std::string& out) { append_event(out, kDone); }

// Appends one event whose payload `write_payload(out)` appends itself, for payloads serialised
// straight into the stream (no copy). The payload must be one line: compact JSON always is.
template <typename WritePayload>
void append_event_in_place(std::string& out, WritePayload&& write_payload) {
  out += "data: ";
  [[maybe_unused]] const std::size_t from = out.size();
  write_payload(out);
  assert(std::string_view(out).substr(from).find_first_of("\r\n") == std::string_view::npos);
  out += "\n\n";
}

}  // namespace infergate::sse

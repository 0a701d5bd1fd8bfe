// Reading and editing the JSON the model servers answer with, one whole body or one SSE event
// payload at a time: where the top-level "model" value is (to rewrite it back to the name the
// client asked for), and the usage numbers.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace infergate::gateway {

struct Usage {
  long prompt_tokens = 0;
  long completion_tokens = 0;
  long cached_tokens = 0;
};

struct ResponseJson {
  bool valid = false;
  std::size_t model_offset = 0;  // the model's JSON string (with quotes), if present
  std::size_t model_length = 0;
  std::optional<Usage> usage;  // when the payload carries a usage object
  int content_pieces = 0;      // choices carrying non-empty generated text
};

ResponseJson inspect_response_json(std::string_view json);

// The same answers as inspect_response_json (for valid JSON) from one pass over the bytes: no
// copy, no padding, no document built. What the relay uses on every streamed event.
ResponseJson skim_response_json(std::string_view json);

// skim_response_json for the events of one stream, one after another. A model server repeats an
// event's leading members (id, object, created, model, ...) byte for byte in every event of a
// stream: the bytes an event shares with the previous skimmed one, from its start up to the
// first member the gateway reads past the model (choices, usage), are compared instead of read
// again. The answers are skim_response_json's.
//
// Thread-safety: belongs to one stream.
class StreamSkimmer {
 public:
  static constexpr std::size_t kMaxLeadingBytes = 512;  // the leading bytes kept at most

  ResponseJson skim(std::string_view json);

 private:
  std::string leading_;  // an earlier event's leading members, through the ',' after them
  // The model's place when among them (length 0: not).
  std::size_t leading_model_offset_ = 0, leading_model_length_ = 0;
};

// Appends `json` to `out` with its model value replaced by `quoted_model` (already a JSON string).
void append_with_model(std::string& out, std::string_view json, const ResponseJson& info,
                       std::string_view quoted_model);

}  // namespace infergate::gateway

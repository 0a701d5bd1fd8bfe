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

// Appends `json` to `out` with its model value replaced by `quoted_model` (already a JSON string).
void append_with_model(std::string& out, std::string_view json, const ResponseJson& info,
                       std::string_view quoted_model);

}  // namespace infergate::gateway

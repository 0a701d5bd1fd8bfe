// What the gateway reads from a client's OpenAI request body, parsed once (simdjson): the API,
// the model and where its value sits in the body (so it can be rewritten without
// re-serialising the document), streaming options, the output limit, and the prompt text that
// prefix-aware picking hashes.
#pragma once

#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "gateway/error/request_error.hpp"

namespace infergate::gateway {

enum class ApiType { kCompletions, kChatCompletions, kEmbeddings, kResponses };
std::optional<ApiType> api_type_for_path(std::string_view path);

struct ParsedRequest {
  ApiType api = ApiType::kCompletions;
  std::string model;
  std::size_t model_offset = 0;  // byte offset of the model's JSON string (with quotes) in the body
  std::size_t model_length = 0;
  bool stream = false;
  bool include_usage = false;
  std::optional<long> max_tokens;  // max_tokens or max_completion_tokens (or max_output_tokens)
  // The text prefix-aware picking hashes: completions: prompt; chat: roles and contents in
  // order, each followed by a newline; embeddings and responses: input. Strings are taken as the
  // body writes them (escapes not decoded), and only the first `prompt_limit` characters kept.
  // In pieces, read in order (TextPieces): views into the body parse_openai_request was given
  // (valid as long as it is), and of a static newline; never copied together.
  std::vector<std::string_view> prompt;
  std::size_t prompt_chars = 0;  // the whole text's length, kept or not (the token estimate)
};

// simdjson reads up to this many bytes past the end of what it parses (their values do not
// matter).
inline constexpr std::size_t kJsonPadding = 64;

// `readable`: how many bytes from body.data() on may be read (the front end's buffer goes on
// past the body). With kJsonPadding of them past the body, it is parsed where it lies; with
// fewer, a padded copy is parsed (the prompt's pieces still point into `body`). The prompt's
// pieces are listed in `prompt_buffer` (emptied first), so a caller that keeps buffers reuses
// their memory, up to `prompt_limit` characters (what the picker can read of it).
std::variant<ParsedRequest, RequestError> parse_openai_request(
    ApiType api, std::string_view body, std::size_t readable = 0,
    std::vector<std::string_view> prompt_buffer = {},
    std::size_t prompt_limit = std::numeric_limits<std::size_t>::max());

// `body` with the model value replaced by `new_model` (JSON-quoted), everything else unchanged.
std::string rewrite_model(std::string_view body, const ParsedRequest& parsed,
                          std::string_view new_model);

}  // namespace infergate::gateway

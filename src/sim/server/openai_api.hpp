// The OpenAI-compatible request and response shapes the simulator speaks, as vLLM's server
// writes them. Pure functions over strings: no sockets, so every shape is unit-tested.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "sim/engine/tokenizer.hpp"

namespace infergate::sim {

enum class ApiKind { kCompletions, kChat, kEmbeddings };

struct GenerationRequest {
  ApiKind kind = ApiKind::kCompletions;
  std::string model;
  std::string prompt;                  // the text the engine tokenises (chat: rendered template)
  std::vector<TokenId> prompt_tokens;  // completions given token ids instead of text
  bool stream = false;
  bool include_usage = false;
  std::optional<int> max_tokens;
  bool ignore_eos = false;
  std::size_t embedding_inputs = 1;
};

// An error as the server reports it: HTTP status plus the OpenAI error object.
struct ApiError {
  int status = 400;
  std::string message;
  std::string param;  // empty: null
};

// {"error": {"message", "type", "param", "code"}}, as the gateway writes it (openai/error.hpp).
std::string error_body(const ApiError& error);

std::variant<GenerationRequest, ApiError> parse_generation_request(ApiKind kind,
                                                                   std::string_view body);

struct Usage {
  int prompt_tokens = 0;
  int completion_tokens = 0;
  int cached_tokens = 0;
};

// What every chunk and body of one response shares.
struct ResponseContext {
  ApiKind kind = ApiKind::kCompletions;
  std::string id;  // "cmpl-..." or "chatcmpl-..."
  std::int64_t created = 0;
  std::string model_json;  // the model name, already a quoted JSON string
  bool include_usage = false;
};
std::string quote_json(std::string_view text);

// The text of generated tokens [first, last).
std::string generated_text(std::size_t first, std::size_t last);

// SSE events of a streamed response. `finish_reason` is null for all but the last token.
void append_role_chunk(std::string& out, const ResponseContext& ctx);  // chat only
void append_token_chunk(std::string& out, const ResponseContext& ctx, std::size_t token_index,
                        const char* finish_reason);
void append_usage_chunk(std::string& out, const ResponseContext& ctx, const Usage& usage);
void append_done(std::string& out);

std::string completion_body(const ResponseContext& ctx, std::size_t output_tokens,
                            std::string_view finish_reason, const Usage& usage);
std::string embeddings_body(const ResponseContext& ctx, std::size_t inputs, std::size_t dims,
                            const Usage& usage);

struct ModelCard {
  std::string id;
  std::string root;
  std::string parent;  // empty for a base model
};
std::string models_body(const std::vector<ModelCard>& models, std::int64_t created,
                        int max_model_len);

}  // namespace infergate::sim

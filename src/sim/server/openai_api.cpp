#include "sim/server/openai_api.hpp"

#include <boost/json.hpp>
#include <charconv>

#include "openai/error.hpp"
#include "sse/sse.hpp"

namespace infergate::sim {
namespace json = boost::json;

std::string error_body(const ApiError& error) {
  return openai::error_body(error.status, error.message, error.param);
}

std::string quote_json(std::string_view text) { return json::serialize(json::string(text)); }

namespace {

ApiError bad(std::string message, std::string param = {}) {
  return ApiError{400, std::move(message), std::move(param)};
}

// Content of a chat message: a string, or an array of parts of which the text ones count.
std::optional<std::string> message_content(const json::value& content) {
  if (content.is_string()) return std::string(content.get_string());
  if (content.is_null()) return std::string();
  if (!content.is_array()) return std::nullopt;
  std::string text;
  for (const auto& part : content.get_array()) {
    if (!part.is_object()) return std::nullopt;
    const auto* t = part.get_object().if_contains("text");
    if (t && t->is_string()) text += t->get_string();
  }
  return text;
}

std::optional<ApiError> parse_prompt(const json::value& prompt, GenerationRequest& out) {
  if (prompt.is_string()) {
    out.prompt = prompt.get_string();
    return std::nullopt;
  }
  if (!prompt.is_array()) return bad("'prompt' must be a string or an array", "prompt");
  const auto& arr = prompt.get_array();
  if (arr.empty()) return bad("'prompt' must not be empty", "prompt");
  if (arr.size() == 1 && arr[0].is_string()) {
    out.prompt = arr[0].get_string();
    return std::nullopt;
  }
  if (arr[0].is_int64() || arr[0].is_uint64()) {
    for (const auto& t : arr) {
      if (!t.is_int64() || t.get_int64() < 0 || t.get_int64() >= kVocabularySize)
        return bad("'prompt' token ids must be integers in the vocabulary", "prompt");
      out.prompt_tokens.push_back(static_cast<TokenId>(t.get_int64()));
    }
    return std::nullopt;
  }
  return bad("the simulator serves one prompt per request", "prompt");
}

std::optional<ApiError> parse_messages(const json::value* messages, GenerationRequest& out) {
  if (!messages || !messages->is_array() || messages->get_array().empty())
    return bad("'messages' must be a non-empty array", "messages");
  std::vector<ChatMessage> parsed;
  for (const auto& m : messages->get_array()) {
    const auto* obj = m.if_object();
    const auto* role = obj ? obj->if_contains("role") : nullptr;
    if (!role || !role->is_string()) return bad("each message needs a string 'role'", "messages");
    const auto* content = obj->if_contains("content");
    std::optional<std::string> text =
        content ? message_content(*content) : std::optional<std::string>("");
    if (!text) return bad("message 'content' must be a string or an array of parts", "messages");
    parsed.push_back({std::string(role->get_string()), std::move(*text)});
  }
  out.prompt = render_chat_prompt(parsed);
  return std::nullopt;
}

std::optional<ApiError> parse_embedding_input(const json::value* input, GenerationRequest& out) {
  if (!input) return bad("'input' is required", "input");
  if (input->is_string()) {
    out.prompt = input->get_string();
  } else if (input->is_array() && !input->get_array().empty()) {
    out.embedding_inputs = input->get_array().size();
    for (const auto& item : input->get_array()) {
      if (!item.is_string()) return bad("'input' must be a string or strings", "input");
      // Each input is tokenised on its own: pad to a token boundary before the next one.
      out.prompt.resize((out.prompt.size() + kBytesPerToken - 1) / kBytesPerToken * kBytesPerToken,
                        ' ');
      out.prompt += item.get_string();
    }
  } else {
    return bad("'input' must be a string or a non-empty array of strings", "input");
  }
  if (out.prompt.empty()) return bad("'input' must not be empty", "input");
  return std::nullopt;
}

std::optional<bool> optional_bool(const json::object& obj, std::string_view key, bool& out) {
  const auto* v = obj.if_contains(key);
  if (!v || v->is_null()) return true;
  if (!v->is_bool()) return std::nullopt;
  out = v->get_bool();
  return true;
}

}  // namespace

std::variant<GenerationRequest, ApiError> parse_generation_request(ApiKind kind,
                                                                   std::string_view body) {
  boost::system::error_code ec;
  json::value doc = json::parse(body, ec);
  if (ec) return bad("request body is not valid JSON: " + ec.message());
  if (!doc.is_object()) return bad("request body must be a JSON object");
  const json::object& obj = doc.get_object();

  GenerationRequest req;
  req.kind = kind;
  const auto* model = obj.if_contains("model");
  if (!model || !model->is_string() || model->get_string().empty())
    return bad("'model' is required and must be a non-empty string", "model");
  req.model = model->get_string();

  std::optional<ApiError> err;
  switch (kind) {
    case ApiKind::kCompletions: {
      const auto* prompt = obj.if_contains("prompt");
      if (!prompt) return bad("'prompt' is required", "prompt");
      err = parse_prompt(*prompt, req);
      break;
    }
    case ApiKind::kChat:
      err = parse_messages(obj.if_contains("messages"), req);
      break;
    case ApiKind::kEmbeddings:
      err = parse_embedding_input(obj.if_contains("input"), req);
      break;
  }
  if (err) return *err;
  if (req.prompt.empty() && req.prompt_tokens.empty())
    return bad("the prompt must not be empty", kind == ApiKind::kChat ? "messages" : "prompt");

  if (!optional_bool(obj, "stream", req.stream)) return bad("'stream' must be a boolean", "stream");
  if (!optional_bool(obj, "ignore_eos", req.ignore_eos))
    return bad("'ignore_eos' must be a boolean", "ignore_eos");
  if (const auto* so = obj.if_contains("stream_options"); so && !so->is_null()) {
    if (!so->is_object()) return bad("'stream_options' must be an object", "stream_options");
    if (!optional_bool(so->get_object(), "include_usage", req.include_usage))
      return bad("'stream_options.include_usage' must be a boolean", "stream_options");
    if (!req.stream)
      return bad("'stream_options' is only allowed with 'stream': true", "stream_options");
  }
  for (std::string_view key : {"max_tokens", "max_completion_tokens"}) {
    const auto* v = obj.if_contains(key);
    if (!v || v->is_null()) continue;
    if (!v->is_int64() || v->get_int64() < 1 || v->get_int64() > (1 << 24))
      return bad(std::string("'") + std::string(key) + "' must be a positive integer",
                 std::string(key));
    req.max_tokens = static_cast<int>(v->get_int64());
  }
  if (const auto* n = obj.if_contains("n"); n && !n->is_null()) {
    if (!n->is_int64() || n->get_int64() != 1) return bad("the simulator supports only n=1", "n");
  }
  return req;
}

std::string generated_text(std::size_t first, std::size_t last) {
  std::string text;
  text.reserve((last - first) * kBytesPerToken);
  for (std::size_t i = first; i < last; ++i) text += Tokenizer::output_piece(i);
  return text;
}

namespace {

void append_int(std::string& out, std::int64_t v) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, end);
}

void append_head(std::string& out, const ResponseContext& ctx, std::string_view object) {
  out += R"({"id":")";
  out += ctx.id;
  out += R"(","object":")";
  out += object;
  out += R"(","created":)";
  append_int(out, ctx.created);
  out += R"(,"model":)";
  out += ctx.model_json;
}

void append_usage(std::string& out, const Usage& u) {
  out += R"({"prompt_tokens":)";
  append_int(out, u.prompt_tokens);
  out += R"(,"total_tokens":)";
  append_int(out, u.prompt_tokens + u.completion_tokens);
  out += R"(,"completion_tokens":)";
  append_int(out, u.completion_tokens);
  out += R"(,"prompt_tokens_details":{"cached_tokens":)";
  append_int(out, u.cached_tokens);
  out += "}}";
}

void append_finish(std::string& out, const char* finish_reason) {
  if (finish_reason) {
    out += R"(,"finish_reason":")";
    out += finish_reason;
    out += '"';
  } else {
    out += R"(,"finish_reason":null)";
  }
}

}  // namespace

void append_role_chunk(std::string& out, const ResponseContext& ctx) {
  sse::append_event_in_place(out, [&](std::string& o) {
    append_head(o, ctx, "chat.completion.chunk");
    o +=
        R"(,"choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}])";
    if (ctx.include_usage) o += R"(,"usage":null)";
    o += '}';
  });
}

void append_token_chunk(std::string& out, const ResponseContext& ctx, std::size_t token_index,
                        const char* finish_reason) {
  const std::string_view piece = Tokenizer::output_piece(token_index);
  sse::append_event_in_place(out, [&](std::string& o) {
    if (ctx.kind == ApiKind::kChat) {
      append_head(o, ctx, "chat.completion.chunk");
      o += R"(,"choices":[{"index":0,"delta":{"content":")";
      o += piece;
      o += R"("},"logprobs":null)";
    } else {
      append_head(o, ctx, "text_completion");
      o += R"(,"choices":[{"index":0,"text":")";
      o += piece;
      o += R"(","logprobs":null)";
    }
    append_finish(o, finish_reason);
    o += R"(,"stop_reason":null}])";
    if (ctx.include_usage) o += R"(,"usage":null)";
    o += '}';
  });
}

void append_usage_chunk(std::string& out, const ResponseContext& ctx, const Usage& usage) {
  sse::append_event_in_place(out, [&](std::string& o) {
    append_head(o, ctx, ctx.kind == ApiKind::kChat ? "chat.completion.chunk" : "text_completion");
    o += R"(,"choices":[],"usage":)";
    append_usage(o, usage);
    o += '}';
  });
}

void append_done(std::string& out) { sse::append_done(out); }

std::string completion_body(const ResponseContext& ctx, std::size_t output_tokens,
                            std::string_view finish_reason, const Usage& usage) {
  std::string out;
  const std::string text = generated_text(0, output_tokens);
  out.reserve(text.size() + 512);
  if (ctx.kind == ApiKind::kChat) {
    append_head(out, ctx, "chat.completion");
    out += R"(,"choices":[{"index":0,"message":{"role":"assistant","content":")";
    out += text;
    out += R"(","tool_calls":[]},"logprobs":null,"finish_reason":")";
  } else {
    append_head(out, ctx, "text_completion");
    out += R"(,"choices":[{"index":0,"text":")";
    out += text;
    out += R"(","logprobs":null,"finish_reason":")";
  }
  out += finish_reason;
  out += R"(","stop_reason":null}],"usage":)";
  append_usage(out, usage);
  out += '}';
  return out;
}

std::string embeddings_body(const ResponseContext& ctx, std::size_t inputs, std::size_t dims,
                            const Usage& usage) {
  json::array data;
  for (std::size_t i = 0; i < inputs; ++i) {
    json::array vec;
    // A deterministic unit-ish vector per input: enough for clients that only read shapes.
    for (std::size_t d = 0; d < dims; ++d)
      vec.push_back(static_cast<double>(Tokenizer::output_token(i, d) % 2001) / 1000.0 - 1.0);
    data.push_back(
        json::object{{"index", i}, {"object", "embedding"}, {"embedding", std::move(vec)}});
  }
  json::object body;
  body["id"] = ctx.id;
  body["object"] = "list";
  body["created"] = ctx.created;
  body["model"] = json::parse(ctx.model_json);
  body["data"] = std::move(data);
  body["usage"] =
      json::object{{"prompt_tokens", usage.prompt_tokens}, {"total_tokens", usage.prompt_tokens}};
  return json::serialize(body);
}

std::string models_body(const std::vector<ModelCard>& models, std::int64_t created,
                        int max_model_len) {
  json::array data;
  for (const auto& m : models) {
    data.push_back(
        json::object{{"id", m.id},
                     {"object", "model"},
                     {"created", created},
                     {"owned_by", "vllm"},
                     {"root", m.root},
                     {"parent", m.parent.empty() ? json::value(nullptr) : json::value(m.parent)},
                     {"max_model_len", max_model_len}});
  }
  return json::serialize(json::object{{"object", "list"}, {"data", std::move(data)}});
}

}  // namespace infergate::sim

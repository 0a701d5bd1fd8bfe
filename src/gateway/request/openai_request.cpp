#include "gateway/request/openai_request.hpp"

#include <simdjson.h>

#include <boost/json/serialize.hpp>
#include <boost/json/string.hpp>

namespace infergate::gateway {
namespace od = simdjson::ondemand;

std::optional<ApiType> api_type_for_path(std::string_view path) {
  const auto ends_with = [&](std::string_view suffix) {
    return path.size() >= suffix.size() && path.substr(path.size() - suffix.size()) == suffix;
  };
  if (ends_with("/chat/completions")) return ApiType::kChatCompletions;
  if (ends_with("/completions")) return ApiType::kCompletions;
  if (ends_with("/embeddings")) return ApiType::kEmbeddings;
  if (ends_with("/responses")) return ApiType::kResponses;
  return std::nullopt;
}

namespace {

// Whether `v` is JSON null (false also when it cannot be read).
bool is_null(od::value& v) {
  bool null = false;
  return !v.is_null().get(null) && null;
}

// The prompt text as the picker hashes it: each string as it is written in the body (escapes
// not decoded: the same text always reads the same, and nothing is unescaped or copied), up to
// a limit; `chars` counts all of it. The pieces are views of the parsed bytes moved to the same
// place in `body` (the parsed bytes are `body` itself, or a padded copy of it).
struct PromptText {
  std::vector<std::string_view>& out;
  std::size_t limit = 0;
  const char* parsed = nullptr;  // the parsed bytes' first
  const char* body = nullptr;    // the body's first
  std::size_t chars = 0;
  std::size_t kept = 0;

  void add(std::string_view text) {
    chars += text.size();
    if (kept >= limit || text.empty()) return;
    text = text.substr(0, limit - kept);
    kept += text.size();
    out.emplace_back(body + (text.data() - parsed), text.size());
  }
  void add_newline() {
    static constexpr std::string_view kNewline = "\n";
    ++chars;
    if (kept >= limit) return;
    ++kept;
    out.push_back(kNewline);
  }
};

// The bytes between a string token's quotes. (raw_json_token() may carry trailing whitespace.)
std::string_view raw_string(std::string_view token) {
  while (!token.empty() && token.back() != '"') token.remove_suffix(1);
  return token.size() >= 2 ? token.substr(1, token.size() - 2) : std::string_view();
}

// Adds the text of a string, or of an array of strings / content parts.
simdjson::error_code add_text(od::value v, PromptText& text) {
  od::json_type type;
  if (auto err = v.type().get(type)) return err;
  if (type == od::json_type::string) {
    text.add(raw_string(v.raw_json_token()));
    return simdjson::SUCCESS;
  }
  if (type == od::json_type::array) {
    od::array arr;
    if (auto err = v.get_array().get(arr)) return err;
    for (auto item : arr) {
      od::value element;
      if (auto err = item.get(element)) return err;
      od::json_type t;
      if (auto err = element.type().get(t)) return err;
      if (t == od::json_type::object) {
        od::value part;
        od::json_type part_type;
        if (!element.find_field_unordered("text").get(part) && !part.type().get(part_type) &&
            part_type == od::json_type::string)
          text.add(raw_string(part.raw_json_token()));
      } else if (t == od::json_type::string) {
        text.add(raw_string(element.raw_json_token()));
      }
      // token ids and other shapes carry no text to hash
    }
    return simdjson::SUCCESS;
  }
  return simdjson::SUCCESS;  // anything else has no text; the parser skips it
}

simdjson::error_code add_messages(od::value v, PromptText& text) {
  od::array arr;
  if (auto err = v.get_array().get(arr)) return err;
  for (auto item : arr) {
    od::object msg;
    if (auto err = item.get_object().get(msg)) return err;
    for (auto field : msg) {
      std::string_view key;
      if (auto err = field.unescaped_key().get(key)) return err;
      od::value value;
      if (auto err = field.value().get(value)) return err;
      if (key == "role" || key == "content") {
        if (auto err = add_text(value, text)) return err;
        text.add_newline();
      }
    }
  }
  return simdjson::SUCCESS;
}

}  // namespace

static_assert(simdjson::SIMDJSON_PADDING <= kJsonPadding);

std::variant<ParsedRequest, RequestError> parse_openai_request(
    ApiType api, std::string_view body, std::size_t readable,
    std::vector<std::string_view> prompt_buffer, std::size_t prompt_limit) {
  thread_local od::parser parser;
  simdjson::padded_string_view padded;
  if (readable >= body.size() + kJsonPadding) {
    padded = simdjson::padded_string_view(body.data(), body.size(), readable);  // no copy
  } else {
    thread_local std::string buffer;  // reused: no allocation per request
    buffer.assign(body);
    buffer.reserve(body.size() + kJsonPadding);
    padded = simdjson::padded_string_view(buffer.data(), body.size(), buffer.capacity());
  }
  ParsedRequest out;
  out.api = api;
  out.prompt = std::move(prompt_buffer);
  out.prompt.clear();
  PromptText text{out.prompt, prompt_limit, padded.data(), body.data()};
  od::document doc;
  od::object root;
  if (parser.iterate(padded).get(doc) || doc.get_object().get(root))
    return RequestError::bad_request("request body must be a JSON object");
  bool have_model = false;
  const auto bad_json = [] { return RequestError::bad_request("request body is not valid JSON"); };
  for (auto field : root) {
    std::string_view key;
    if (field.unescaped_key().get(key)) return bad_json();
    od::value value;
    if (field.value().get(value)) return bad_json();
    if (key == "model") {
      std::string_view raw = value.raw_json_token();
      std::string_view model;
      if (value.get_string().get(model) || model.empty())
        return RequestError::bad_request("'model' must be a non-empty string", "model");
      out.model = std::string(model);
      // raw_json_token() may carry trailing whitespace: the token ends at the closing quote.
      std::size_t end = 1;
      while (end < raw.size() && raw[end] != '"') end += raw[end] == '\\' ? 2 : 1;
      out.model_offset = static_cast<std::size_t>(raw.data() - padded.data());
      out.model_length = end + 1;
      have_model = true;
    } else if (key == "stream") {
      bool b = false;
      if (value.get_bool().get(b)) {
        if (is_null(value)) continue;
        return RequestError::bad_request("'stream' must be a boolean", "stream");
      }
      out.stream = b;
    } else if (key == "stream_options") {
      od::object opts;
      if (value.get_object().get(opts)) {
        if (is_null(value)) continue;
        return RequestError::bad_request("'stream_options' must be an object", "stream_options");
      }
      bool usage = false;
      if (!opts.find_field_unordered("include_usage").get_bool().get(usage))
        out.include_usage = usage;
    } else if (key == "max_tokens" || key == "max_completion_tokens" ||
               key == "max_output_tokens") {
      int64_t n = 0;
      if (value.get_int64().get(n)) {
        if (is_null(value)) continue;
        return RequestError::bad_request("'" + std::string(key) + "' must be an integer",
                                         std::string(key));
      }
      out.max_tokens = n;
    } else if ((key == "prompt" && api == ApiType::kCompletions) ||
               (key == "input" && (api == ApiType::kEmbeddings || api == ApiType::kResponses))) {
      if (add_text(value, text)) return bad_json();
    } else if (key == "messages" && api == ApiType::kChatCompletions) {
      if (add_messages(value, text))
        return RequestError::bad_request("'messages' must be an array of message objects",
                                         "messages");
    }
  }
  if (!have_model) return RequestError::bad_request("'model' is required", "model");
  out.prompt_chars = text.chars;
  return out;
}

std::string rewrite_model(std::string_view body, const ParsedRequest& parsed,
                          std::string_view new_model) {
  const std::string quoted = boost::json::serialize(boost::json::string(new_model));
  std::string out;
  out.reserve(body.size() + quoted.size());
  out.append(body.substr(0, parsed.model_offset));
  out.append(quoted);
  out.append(body.substr(parsed.model_offset + parsed.model_length));
  return out;
}

}  // namespace infergate::gateway

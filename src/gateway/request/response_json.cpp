#include "gateway/request/response_json.hpp"

#include <simdjson.h>

namespace infergate::gateway {
namespace od = simdjson::ondemand;

namespace {

// simdjson reads up to SIMDJSON_PADDING bytes past the end: copy into a reused buffer with room.
simdjson::padded_string_view pad(std::string_view json, std::string& buffer) {
  buffer.assign(json);
  buffer.reserve(json.size() + simdjson::SIMDJSON_PADDING);
  return simdjson::padded_string_view(buffer.data(), json.size(), buffer.capacity());
}

void read_usage(od::value v, ResponseJson& out) {
  od::object usage;
  if (v.get_object().get(usage)) return;  // "usage": null
  Usage u;
  for (auto field : usage) {
    std::string_view key;
    if (field.unescaped_key().get(key)) return;
    if (key == "prompt_tokens") {
      int64_t n;
      if (!field.value().get_int64().get(n)) u.prompt_tokens = n;
    } else if (key == "completion_tokens") {
      int64_t n;
      if (!field.value().get_int64().get(n)) u.completion_tokens = n;
    } else if (key == "prompt_tokens_details") {
      od::object details;
      if (field.value().get_object().get(details)) continue;
      int64_t n;
      if (!details.find_field_unordered("cached_tokens").get_int64().get(n)) u.cached_tokens = n;
    }
  }
  out.usage = u;
}

void count_content(od::value v, ResponseJson& out) {
  od::array choices;
  if (v.get_array().get(choices)) return;
  for (auto c : choices) {
    od::object choice;
    if (c.get_object().get(choice)) return;
    for (auto field : choice) {
      std::string_view key;
      if (field.unescaped_key().get(key)) return;
      std::string_view text;
      if (key == "text") {
        if (!field.value().get_string().get(text) && !text.empty()) ++out.content_pieces;
      } else if (key == "delta" || key == "message") {
        od::object delta;
        if (field.value().get_object().get(delta)) continue;
        if (!delta.find_field_unordered("content").get_string().get(text) && !text.empty())
          ++out.content_pieces;
      }
    }
  }
}

}  // namespace

ResponseJson inspect_response_json(std::string_view json) {
  thread_local od::parser parser;
  thread_local std::string buffer;
  ResponseJson out;
  const simdjson::padded_string_view padded = pad(json, buffer);
  od::document doc;
  od::object root;
  if (parser.iterate(padded).get(doc) || doc.get_object().get(root)) return out;
  for (auto field : root) {
    std::string_view key;
    if (field.unescaped_key().get(key)) return out;
    od::value value;
    if (field.value().get(value)) return out;
    if (key == "model") {
      std::string_view raw = value.raw_json_token();
      if (raw.empty() || raw.front() != '"') continue;
      std::size_t end = 1;
      while (end < raw.size() && raw[end] != '"') end += raw[end] == '\\' ? 2 : 1;
      out.model_offset = static_cast<std::size_t>(raw.data() - padded.data());
      out.model_length = end + 1;
    } else if (key == "usage") {
      read_usage(value, out);
    } else if (key == "choices") {
      count_content(value, out);
    }
  }
  out.valid = true;
  return out;
}

void append_with_model(std::string& out, std::string_view json, const ResponseJson& info,
                       std::string_view quoted_model) {
  if (!info.valid || info.model_length == 0) {
    out.append(json);
    return;
  }
  out.append(json.substr(0, info.model_offset));
  out.append(quoted_model);
  out.append(json.substr(info.model_offset + info.model_length));
}

}  // namespace infergate::gateway

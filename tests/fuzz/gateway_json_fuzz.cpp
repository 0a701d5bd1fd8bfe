// libFuzzer target: client request bodies and model-server responses are untrusted JSON.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "gateway/request/openai_request.hpp"
#include "gateway/request/response_json.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  using infergate::gateway::ApiType;
  for (ApiType api : {ApiType::kCompletions, ApiType::kChatCompletions, ApiType::kEmbeddings}) {
    auto parsed = infergate::gateway::parse_openai_request(api, body);
    if (auto* p = std::get_if<infergate::gateway::ParsedRequest>(&parsed)) {
      if (p->model_offset + p->model_length > body.size()) __builtin_trap();
      // Every piece of the prompt lies in the body, or is the newline after a message's part.
      for (const std::string_view piece : p->prompt) {
        const bool in_body =
            piece.data() >= body.data() && piece.data() + piece.size() <= body.data() + body.size();
        if (!in_body && piece != "\n") __builtin_trap();
      }
      (void)infergate::gateway::rewrite_model(body, *p, "x");
    }
  }
  const auto info = infergate::gateway::inspect_response_json(body);
  std::string out;
  infergate::gateway::append_with_model(out, body, info, "\"m\"");
  return 0;
}

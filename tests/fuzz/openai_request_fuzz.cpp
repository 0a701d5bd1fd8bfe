// libFuzzer target: request bodies are untrusted JSON from clients.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "sim/server/openai_api.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  using infergate::sim::ApiKind;
  for (ApiKind kind : {ApiKind::kCompletions, ApiKind::kChat, ApiKind::kEmbeddings}) {
    auto result = infergate::sim::parse_generation_request(kind, body);
    if (auto* err = std::get_if<infergate::sim::ApiError>(&result)) {
      if (err->status != 400) __builtin_trap();
      (void)infergate::sim::error_body(*err);
    }
  }
  return 0;
}

// Parse: the OpenAI body of a POST to an inference path, read once (the model and where its
// value lies, streaming, the output limit, the prompt text). The prompt's pieces (views into
// the body, never copied) are listed in a buffer a previous request left, so a worker stops
// allocating them once warm.
#include "gateway/lifecycle/phases.hpp"

namespace infergate::gateway {

std::optional<RequestError> RequestPhases::parse(RequestContext& ctx) {
  const std::optional<ApiType> api = api_type_for_path(ctx.path);
  if (!api) return RequestError::not_found("Not Found: " + std::string(ctx.path));
  if (ctx.request.method != "POST") return RequestError::client(405, "Method Not Allowed");
  ctx.record.request_bytes = ctx.request.body.size();
  auto parsed =
      parse_openai_request(*api, ctx.request.body, ctx.request.body_readable, take_prompt_buffer());
  if (auto* e = std::get_if<RequestError>(&parsed)) return std::move(*e);
  ctx.parsed = std::move(std::get<ParsedRequest>(parsed));
  ctx.record.model = ctx.parsed->model;
  ctx.record.streamed = ctx.parsed->stream;
  return std::nullopt;
}

std::vector<std::string_view> RequestPhases::take_prompt_buffer() {
  if (prompt_buffers_.empty()) return {};
  std::vector<std::string_view> buffer = std::move(prompt_buffers_.back());
  prompt_buffers_.pop_back();
  return buffer;
}

void RequestPhases::keep_prompt_buffer(std::vector<std::string_view> buffer) {
  constexpr std::size_t kMaxBuffers = 64;     // about the requests one worker has in flight
  constexpr std::size_t kMaxCapacity = 1024;  // pieces: a rare prompt of thousands goes back
  if (prompt_buffers_.size() < kMaxBuffers && buffer.capacity() <= kMaxCapacity)
    prompt_buffers_.push_back(std::move(buffer));
}

}  // namespace infergate::gateway

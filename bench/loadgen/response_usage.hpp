// The `usage` a completion reports, read from a whole response body: a JSON completion, or an
// event stream whose last usage-bearing event (stream_options.include_usage) carries it.
#pragma once

#include <optional>
#include <string_view>

namespace infergate::bench {

struct PromptUsage {
  long prompt_tokens = 0;
  long cached_tokens = 0;  // usage.prompt_tokens_details.cached_tokens, 0 when absent
};

std::optional<PromptUsage> response_usage(std::string_view body, bool stream);

}  // namespace infergate::bench

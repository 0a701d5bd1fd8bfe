#include "gateway/lifecycle/accounting.hpp"

#include <chrono>

namespace infergate::gateway {

RequestAccounting::RequestAccounting(bool access_log, std::function<void(const std::string&)> log)
    : access_log_(access_log && log), log_(std::move(log)) {}

void RequestAccounting::finished(const RequestRecord& r) {
  constexpr auto relaxed = std::memory_order_relaxed;
  counters_.requests.fetch_add(1, relaxed);
  if (r.status >= 400 || r.error) counters_.errors.fetch_add(1, relaxed);
  if (r.attempts > 1) counters_.retried.fetch_add(1, relaxed);
  if (r.usage)
    counters_.prompt_tokens.fetch_add(static_cast<std::uint64_t>(r.usage->prompt_tokens), relaxed);
  counters_.output_tokens.fetch_add(
      static_cast<std::uint64_t>(r.usage ? r.usage->completion_tokens : r.counted_output), relaxed);
  metrics_.finished(r);
  if (access_log_) log_(access_log_line(r));
}

std::string access_log_line(const RequestRecord& r) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(r.total).count();
  std::string line = "request model=" + r.model + " target=" + r.target_model + " pool=" + r.pool +
                     " endpoint=" + r.endpoint + " status=" + std::to_string(r.status) +
                     " attempts=" + std::to_string(r.attempts) + " ms=" + std::to_string(ms);
  if (r.usage)
    line += " prompt_tokens=" + std::to_string(r.usage->prompt_tokens) +
            " completion_tokens=" + std::to_string(r.usage->completion_tokens);
  if (r.error) line += " error=\"" + r.error->message + "\"";
  return line;
}

}  // namespace infergate::gateway

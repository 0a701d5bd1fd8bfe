#include "gateway/lifecycle/accounting.hpp"

#include "gateway/lifecycle/access_log.hpp"

namespace infergate::gateway {

RequestAccounting::RequestAccounting(AccessLog* access_log) : access_log_(access_log) {}

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
  if (access_log_) access_log_->record(r);
}

}  // namespace infergate::gateway

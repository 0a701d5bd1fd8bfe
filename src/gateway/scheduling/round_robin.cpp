#include <algorithm>

#include "gateway/scheduling/scheduler.hpp"

namespace infergate::gateway {

std::shared_ptr<Endpoint> RoundRobinScheduler::pick(PoolState& pool, const SchedulingRequest&,
                                                    const std::vector<const Endpoint*>& exclude) {
  const std::size_t n = pool.endpoints.size();
  if (n == 0) return nullptr;
  // A retry continues from the current position instead of advancing the rotation, so a dead
  // endpoint is not the first choice of every other request.
  const std::uint64_t start = exclude.empty() ? pool.next.fetch_add(1, std::memory_order_relaxed)
                                              : pool.next.load(std::memory_order_relaxed);
  for (std::size_t i = 0; i < n; ++i) {
    const auto& ep = pool.endpoints[(start + i) % n];
    if (std::find(exclude.begin(), exclude.end(), ep.get()) == exclude.end()) return ep;
  }
  return nullptr;
}

}  // namespace infergate::gateway

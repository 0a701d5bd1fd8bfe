#include <algorithm>

#include "gateway/scheduling/scheduler.hpp"

namespace infergate::gateway {
namespace {

class RoundRobinSession final : public SchedulingSession {
 public:
  explicit RoundRobinSession(PoolState& pool) : pool_(pool) {}

  PickResult pick(std::span<const Endpoint* const> exclude) override {
    const std::size_t n = pool_.endpoints.size();
    if (n == 0) return {nullptr, {503, "the pool has no endpoints"}};
    // A retry continues from the current position instead of advancing the rotation, so a
    // dead endpoint is not the first choice of every other request.
    const std::uint64_t start = exclude.empty() ? pool_.next.fetch_add(1, std::memory_order_relaxed)
                                                : pool_.next.load(std::memory_order_relaxed);
    for (std::size_t i = 0; i < n; ++i) {
      const auto& ep = pool_.endpoints[(start + i) % n];
      if (std::find(exclude.begin(), exclude.end(), ep.get()) == exclude.end()) return {ep, {}};
    }
    return {nullptr, {503, "every endpoint of the pool was tried"}};
  }

 private:
  PoolState& pool_;
};

}  // namespace

std::unique_ptr<SchedulingSession> RoundRobinScheduler::begin(PoolState& pool,
                                                              const SchedulingRequest&,
                                                              SchedulingEnv) {
  return std::make_unique<RoundRobinSession>(pool);
}

}  // namespace infergate::gateway

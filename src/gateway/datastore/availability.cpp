#include "gateway/datastore/availability.hpp"

namespace infergate::gateway {

bool ejected(const Endpoint& endpoint, TimePoint now) {
  return endpoint.outlier.ejected_until_ns.load(std::memory_order_relaxed) > now.count();
}

Availability availability(const PoolMetricsView* view, std::size_t slot, const Endpoint& endpoint,
                          TimePoint now) {
  if (view && slot < view->healthy.size() && !view->healthy[slot])
    return Availability::kScrapeFailing;
  if (ejected(endpoint, now)) return Availability::kEjected;
  return Availability::kUsable;
}

}  // namespace infergate::gateway

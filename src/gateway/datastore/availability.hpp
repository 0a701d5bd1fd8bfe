// Whether an endpoint can take requests: the one rule that picking (ProfileScheduler), flow
// control's saturation (measure_saturation: endpoints in picking, idle ones) and the
// inference_pool_ready_pods gauge share.
//
// An endpoint is usable when
//   - its scrapes are healthy in the pool's published metrics view, the view a scheduling
//     decision reads (an endpoint the view does not cover, or a pool without a view, counts as
//     healthy: nothing says otherwise), and
//   - outlier detection has not ejected it (its ejection deadline is not after `now`).
// Stale metrics do not make an endpoint unusable: picking keeps it, scored as saturated, and
// saturation counts it as full.
//
// Thread-safety: reads the immutable view and the endpoint's atomics.
#pragma once

#include <cstddef>

#include "common/clock.hpp"
#include "gateway/datastore/datastore.hpp"

namespace infergate::gateway {

enum class Availability {
  kUsable,
  kScrapeFailing,  // reported before an ejection when both hold
  kEjected,
};

// Whether outlier detection holds the endpoint out of picking at `now`.
inline bool ejected(const Endpoint& endpoint, TimePoint now) {
  return endpoint.outlier.ejected_until_ns() > now.count();
}

// Whether some endpoint of the process may be ejected at `now`; when not, none is.
inline bool some_endpoint_may_be_ejected(TimePoint now) {
  return latest_ejection_end_ns().load(std::memory_order_relaxed) > now.count();
}

// `slot`: the endpoint's index in PoolState::endpoints, which the view's vectors follow. Inline:
// a decision asks it of every endpoint of the pool.
inline Availability availability(const PoolMetricsView* view, std::size_t slot,
                                 const Endpoint& endpoint, TimePoint now) {
  if (view && slot < view->loads.size() && !view->loads[slot].healthy)
    return Availability::kScrapeFailing;
  if (ejected(endpoint, now)) return Availability::kEjected;
  return Availability::kUsable;
}

inline bool usable_for_picking(const PoolMetricsView* view, std::size_t slot,
                               const Endpoint& endpoint, TimePoint now) {
  return availability(view, slot, endpoint, now) == Availability::kUsable;
}

}  // namespace infergate::gateway

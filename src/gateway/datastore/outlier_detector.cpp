#include "gateway/datastore/outlier_detector.hpp"

#include <algorithm>

namespace infergate::gateway {

bool report_outcome(const OutlierOptions& o, PoolState& pool, Endpoint& ep, AttemptOutcome outcome,
                    const Clock& clock) {
  OutlierState& s = ep.outlier;
  if (outcome == AttemptOutcome::kNeutral || o.consecutive_failures <= 0) return false;
  if (outcome == AttemptOutcome::kSuccess) {
    s.consecutive_failures.store(0, std::memory_order_relaxed);
    const std::int64_t until = s.ejected_until_ns();
    if (until != 0 &&
        clock.now().count() - until > std::chrono::nanoseconds(o.max_ejection).count())
      s.times_ejected.store(0, std::memory_order_relaxed);  // a long healthy run forgives
    return false;
  }
  if (s.consecutive_failures.fetch_add(1, std::memory_order_relaxed) + 1 < o.consecutive_failures)
    return false;
  const TimePoint now = clock.now();
  if (s.ejected_until_ns() > now.count()) return false;  // already out
  // Keep the pool serving: at most a share of it ejected, never the last endpoint.
  std::size_t ejected = 0;
  for (const auto& other : pool.endpoints)
    if (other->outlier.ejected_until_ns() > now.count()) ++ejected;
  const std::size_t n = pool.endpoints.size();
  const auto allowed =
      std::min(n - 1, static_cast<std::size_t>(o.max_ejected_share * static_cast<double>(n)));
  if (ejected + 1 > std::max<std::size_t>(allowed, n > 1 ? 1 : 0)) return false;
  const int times = s.times_ejected.fetch_add(1, std::memory_order_relaxed) + 1;
  const auto duration = std::min<std::chrono::nanoseconds>(o.base_ejection * times, o.max_ejection);
  s.eject_until((now + duration).count());
  s.consecutive_failures.store(0, std::memory_order_relaxed);
  s.ejections_total.fetch_add(1, std::memory_order_relaxed);
  return true;
}

}  // namespace infergate::gateway

#include "gateway/flowcontrol/saturation.hpp"

#include <algorithm>

#include "gateway/datastore/availability.hpp"

namespace infergate::gateway::flowcontrol {

Saturation measure_saturation(const PoolState& pool, TimePoint now, const SaturationOptions& o,
                              long pending) {
  Saturation s;
  const auto view = pool.view.load(std::memory_order_acquire);
  const std::size_t n = pool.endpoints.size();
  if (n == 0) {
    s.utilisation = s.concurrency = 1;
    return s;
  }
  double util_sum = 0;
  long in_flight = pending;
  long idle = 0;
  std::size_t usable = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const Endpoint& ep = *pool.endpoints[i];
    const int f = ep.in_flight.load(std::memory_order_relaxed);
    in_flight += f;
    const Availability availability_now = availability(view.get(), i, ep, now);
    if (availability_now == Availability::kUsable) {
      ++usable;
      if (f == 0) ++idle;
    }
    const EndpointSample* sample =
        view && i < view->samples.size() ? view->samples[i].get() : nullptr;
    if (!o.scraping) continue;
    if (!sample || now - sample->scraped_at > o.staleness ||
        availability_now == Availability::kScrapeFailing) {
      util_sum += 1.0;
      ++s.stale;
      continue;
    }
    util_sum += std::max(sample->metrics.waiting / o.queue_depth,
                         sample->metrics.kv_usage.value_or(0) / o.kv_threshold);
  }
  s.idle_endpoint = idle > pending;
  s.usable = usable;
  if (o.scraping) {
    // Requests admitted since the view was taken have not reached the metrics yet.
    const long growth = view ? std::max(0L, in_flight - view->in_flight) : 0;
    s.utilisation =
        (util_sum + static_cast<double>(growth) / o.queue_depth) / static_cast<double>(n);
  }
  if (o.max_in_flight_per_endpoint > 0)
    s.concurrency = usable == 0 ? 1.0
                                : static_cast<double>(in_flight) /
                                      (static_cast<double>(usable) * o.max_in_flight_per_endpoint);
  else if (usable == 0)
    s.concurrency = 1.0;
  return s;
}

SaturationOptions with_saturation_detector(SaturationOptions base,
                                           const config::EndpointPickerConfig& picker) {
  if (picker.metrics_staleness) base.staleness = *picker.metrics_staleness;
  if (picker.queue_depth_threshold)
    base.queue_depth = static_cast<double>(*picker.queue_depth_threshold);
  if (picker.kv_cache_util_threshold) base.kv_threshold = *picker.kv_cache_util_threshold;
  return base;
}

}  // namespace infergate::gateway::flowcontrol

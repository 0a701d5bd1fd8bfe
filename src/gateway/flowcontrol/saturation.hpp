// How full a pool is. Two rules, the larger wins:
//   utilisation (upstream's detector): per endpoint max(waiting / queue_depth, kv / kv_threshold),
//     a stale or missing sample counting as 1; the pool's value is the mean over its endpoints
//     (no endpoints: 1). Between scrapes the gateway's own in-flight count moves first: requests
//     admitted since the pool's metrics view was published count as extra waiting.
//   concurrency: the gateway's in-flight requests over (endpoints x max_in_flight_per_endpoint),
//     when that limit is set.
// 1.0 means saturated. Also reported: whether some endpoint in picking is idle (no request in
// flight), which lets a queued request go whatever the metrics say.
//
// Thread-safety: a pure function of the pool's view and atomics.
#pragma once

#include <chrono>

#include "common/clock.hpp"
#include "gateway/datastore/datastore.hpp"

namespace infergate::gateway::flowcontrol {

struct SaturationOptions {
  double queue_depth = 5;              // upstream's queueDepthThreshold
  double kv_threshold = 0.8;           // upstream's kvCacheUtilThreshold
  int max_in_flight_per_endpoint = 0;  // 0: no concurrency rule
  Duration staleness = std::chrono::milliseconds(200);
  bool scraping = true;  // false: only the concurrency rule and idle endpoints speak
};

struct Saturation {
  double utilisation = 0;
  double concurrency = 0;
  bool idle_endpoint = false;
  std::size_t usable = 0;  // endpoints in picking (scrapes healthy, not ejected)
  std::size_t stale = 0;   // endpoints whose metrics are missing or stale (counted as 1)
  double value() const { return utilisation > concurrency ? utilisation : concurrency; }
};

// `base` with an EndpointPickerConfig's saturationDetector settings (queue depth, KV-cache
// threshold, metrics staleness) in place of the flags' values, as upstream's picker reads them.
SaturationOptions with_saturation_detector(SaturationOptions base,
                                           const config::EndpointPickerConfig& picker);

// `pending`: requests let through that have not reached an endpoint yet; they count as in
// flight and each takes one idle endpoint.
Saturation measure_saturation(const PoolState& pool, TimePoint now,
                              const SaturationOptions& options, long pending = 0);

}  // namespace infergate::gateway::flowcontrol

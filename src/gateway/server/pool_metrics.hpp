// The endpoint picker's view of the pools as Prometheus text: upstream's inference_pool_* and
// inference_extension_* families (so existing dashboards work), plus InferGate's per-endpoint
// health, ejection and scrape counters, and the scheduler's latency histograms.
#pragma once

#include <string>

#include "common/clock.hpp"
#include "gateway/datastore/datastore.hpp"

namespace infergate::gateway {

// `staleness`: samples older than this count as absent (not ready).
void render_pool_metrics(const Snapshot& snapshot, TimePoint now, Duration staleness,
                         std::string& out);

}  // namespace infergate::gateway

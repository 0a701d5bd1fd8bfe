// The endpoint picker's view of the pools as Prometheus text: upstream's inference_pool_* and
// inference_extension_* families (GIE, so existing dashboards work) and the llm_d_epp_* twins
// of the scheduler, prefix index and flow control ones (llm-d router), plus InferGate's
// per-endpoint health, ejection and scrape counters and its own finer-grained histograms.
#pragma once

#include <string>

#include "common/clock.hpp"
#include "gateway/datastore/datastore.hpp"
#include "gateway/flowcontrol/flow_control.hpp"
#include "gateway/scheduling/framework/prefix_indexes.hpp"

namespace infergate::gateway {

// The components whose per-pool state is rendered too (null: none).
struct PoolComponents {
  const scheduling::PrefixIndexes* prefix_indexes = nullptr;
  const flowcontrol::FlowControl* flow_control = nullptr;
};

// `staleness`: samples older than this count as absent (not ready).
void render_pool_metrics(const Snapshot& snapshot, TimePoint now, Duration staleness,
                         const PoolComponents& components, std::string& out);

}  // namespace infergate::gateway

#include "gateway/flowcontrol/flow_control.hpp"

namespace infergate::gateway::flowcontrol {

FlowControl::FlowControl(const Clock& clock, FlowControlOptions options)
    : clock_(clock), options_(options) {}

void FlowControl::set_options(FlowControlOptions options) {
  std::lock_guard lock(mu_);
  options_ = options;
  for (const auto& [key, flow] : by_pool_) flow->set_options(options_);
}

void FlowControl::pools_reconciled(Snapshot& snapshot, std::span<const std::uint32_t>) {
  std::lock_guard lock(mu_);
  std::map<std::string, std::shared_ptr<FlowController>> still;
  if (snapshot.services.size() < snapshot.pools.size())
    snapshot.services.resize(snapshot.pools.size());
  for (std::size_t i = 0; i < snapshot.pools.size(); ++i) {
    const std::shared_ptr<PoolState>& pool = snapshot.pools[i];
    auto& flow = still[pool->key];
    if (const auto it = by_pool_.find(pool->key); it != by_pool_.end()) flow = it->second;
    if (!flow) flow = std::make_shared<FlowController>(pool->key, clock_, options_, timings_);
    flow->attach(pool);
    snapshot.services[i].flow = flow;
  }
  by_pool_ = std::move(still);
}

void FlowControl::view_published(const PoolState& pool) {
  std::shared_ptr<FlowController> flow;
  {
    std::lock_guard lock(mu_);
    if (const auto it = by_pool_.find(pool.key); it != by_pool_.end()) flow = it->second;
  }
  if (flow) flow->on_capacity_changed();  // fresh metrics may let queued requests go
}

void FlowControl::for_each(const std::function<void(const FlowController&)>& visit) const {
  std::lock_guard lock(mu_);
  for (const auto& [key, flow] : by_pool_) visit(*flow);
}

}  // namespace infergate::gateway::flowcontrol

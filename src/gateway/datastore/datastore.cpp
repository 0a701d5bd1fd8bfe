#include "gateway/datastore/datastore.hpp"

#include "gateway/flowcontrol/flow_controller.hpp"
#include "gateway/scheduling/prefix/prefix_index.hpp"

namespace infergate::gateway {

void PoolState::publish_view() {
  auto v = std::make_shared<PoolMetricsView>();
  v->samples.reserve(endpoints.size());
  v->healthy.reserve(endpoints.size());
  for (const auto& ep : endpoints) {
    v->samples.push_back(ep->latest.load(std::memory_order_acquire));
    v->healthy.push_back(ep->scrape_healthy.load(std::memory_order_relaxed) ? 1 : 0);
    v->in_flight += ep->in_flight.load(std::memory_order_relaxed);
  }
  view.store(std::move(v), std::memory_order_release);
}

std::shared_ptr<const Snapshot> Datastore::reconcile(
    const std::shared_ptr<const config::Config>& config) {
  std::lock_guard lock(mu_);
  auto snap = std::make_shared<Snapshot>(Snapshot{config, Router(config), {}, ++generation_});
  std::map<std::string, Known> still_known;
  std::map<std::string, std::shared_ptr<PrefixIndex>> still_indexed;
  std::map<std::string, std::shared_ptr<flowcontrol::FlowController>> still_flowing;
  for (const auto& pool : config->pools) {
    auto state = std::make_shared<PoolState>();
    for (const auto& spec : pool.endpoints) {
      const std::string key = spec.key();
      std::shared_ptr<Endpoint> ep;
      if (auto it = known_.find(key); it != known_.end()) ep = it->second.endpoint.lock();
      if (!ep) ep = std::make_shared<Endpoint>(spec, next_id_++);
      still_known[key] = Known{ep, ep->id};
      state->endpoints.push_back(std::move(ep));
    }
    const std::string pool_key = pool.ns() + "/" + pool.name();
    auto& index = still_indexed[pool_key];
    if (auto it = prefix_indexes_.find(pool_key); it != prefix_indexes_.end()) index = it->second;
    if (!index) index = std::make_shared<PrefixIndex>();
    state->prefix_index = index;
    if (flow_factory_) {
      auto& flow = still_flowing[pool_key];
      if (auto it = flows_.find(pool_key); it != flows_.end()) flow = it->second;
      if (!flow) flow = flow_factory_(pool_key);
      state->flow = flow;
    }
    state->publish_view();
    snap->pools.push_back(std::move(state));
  }
  // Endpoints that left: their prefix entries go, in every index that may hold them.
  for (const auto& [key, known] : known_) {
    if (still_known.contains(key)) continue;
    for (const auto& [pool_key, index] : still_indexed) index->remove_endpoint(known.id);
  }
  known_ = std::move(still_known);
  prefix_indexes_ = std::move(still_indexed);
  flows_ = std::move(still_flowing);
  if (factory_) {
    for (std::size_t i = 0; i < snap->pools.size(); ++i)
      snap->pools[i]->scheduler = factory_(*config, i, *snap->pools[i]);
  }
  // Flow controllers measure the newest pool state (queued requests of a departed pool run out
  // their TTL).
  for (const auto& pool : snap->pools)
    if (pool->flow) pool->flow->attach(pool);
  return snap;
}

}  // namespace infergate::gateway

#include "gateway/datastore/datastore.hpp"

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
  if (listeners)
    for (const auto& l : *listeners) l->view_published(*this);
}

std::shared_ptr<const Snapshot> Datastore::reconcile(
    const std::shared_ptr<const config::Config>& config) {
  std::lock_guard lock(mu_);
  auto snap = std::make_shared<Snapshot>(Snapshot{config, Router(config), {}, ++generation_});
  std::map<std::string, Known> still_known;
  for (const auto& pool : config->pools) {
    auto state = std::make_shared<PoolState>();
    state->key = pool.ns() + "/" + pool.name();
    for (const auto& spec : pool.endpoints) {
      const std::string key = spec.key();
      std::shared_ptr<Endpoint> ep;
      if (auto it = known_.find(key); it != known_.end()) ep = it->second.endpoint.lock();
      if (!ep) ep = std::make_shared<Endpoint>(spec, next_id_++);
      still_known[key] = Known{ep, ep->id};
      state->endpoints.push_back(std::move(ep));
    }
    snap->pools.push_back(std::move(state));
  }
  std::vector<std::uint32_t> removed;
  for (const auto& [key, known] : known_)
    if (!still_known.contains(key)) removed.push_back(known.id);
  known_ = std::move(still_known);
  if (factory_) {
    for (std::size_t i = 0; i < snap->pools.size(); ++i)
      snap->pools[i]->scheduler = factory_(*config, i, *snap->pools[i]);
  }
  for (const auto& l : *listeners_) l->pools_reconciled(*snap, removed);
  // The first views, heard by the listeners now bound.
  for (const auto& pool : snap->pools) {
    pool->listeners = listeners_;
    pool->publish_view();
  }
  return snap;
}

}  // namespace infergate::gateway

#include "gateway/datastore/datastore.hpp"

namespace infergate::gateway {

std::shared_ptr<const Snapshot> Datastore::reconcile(std::shared_ptr<const config::Config> config) {
  std::lock_guard lock(mu_);
  auto snap = std::make_shared<Snapshot>(Snapshot{config, Router(config), {}, ++generation_});
  std::map<std::string, std::weak_ptr<Endpoint>> still_known;
  for (const auto& pool : config->pools) {
    auto state = std::make_unique<PoolState>();
    for (const auto& spec : pool.endpoints) {
      const std::string key = spec.key();
      std::shared_ptr<Endpoint> ep;
      if (auto it = known_.find(key); it != known_.end()) ep = it->second.lock();
      if (!ep) ep = std::make_shared<Endpoint>(spec);
      still_known[key] = ep;
      state->endpoints.push_back(std::move(ep));
    }
    snap->pools.push_back(std::move(state));
  }
  known_ = std::move(still_known);
  return snap;
}

}  // namespace infergate::gateway

#include "gateway/datastore/datastore.hpp"

#include <algorithm>

namespace infergate::gateway {

std::shared_ptr<const PoolMetricsView> make_metrics_view(
    std::vector<std::shared_ptr<const EndpointSample>> samples, std::vector<char> healthy,
    long in_flight, std::span<const std::shared_ptr<Endpoint>> endpoints) {
  static std::atomic<std::uint64_t> views_made{0};
  auto v = std::make_shared<PoolMetricsView>();
  v->serial = views_made.fetch_add(1, std::memory_order_relaxed) + 1;
  const std::size_t n = samples.size();
  v->loads.resize(n);
  PoolMetricsView::Columns& c = v->columns;
  c.waiting.assign(n, 0.0);
  c.running.assign(n, 0.0);
  c.kv_usage.assign(n, 0.0);
  c.lora.assign(n, nullptr);
  c.lora_room.assign(n, 0);
  for (std::size_t i = 0; i < n; ++i) {
    EndpointLoad& load = v->loads[i];
    load.healthy = i >= healthy.size() || healthy[i] != 0;
    v->all_healthy = v->all_healthy && load.healthy;
    const EndpointSample* sample = samples[i].get();
    if (!sample) {
      v->all_sampled = false;
      continue;
    }
    load.sampled = true;
    load.scraped_at = sample->scraped_at;
    load.waiting = sample->metrics.waiting;
    load.running = sample->metrics.running;
    // The metrics are finite and non-negative (extract_metrics); a use above 1 is cut to full.
    load.kv_usage = std::min(sample->metrics.kv_usage.value_or(0.0), 1.0);
    if (const auto& lora = sample->metrics.lora) {
      load.lora = &*lora;
      load.lora_room =
          static_cast<int>(lora->running.size() + lora->waiting.size()) < lora->max_lora;
      v->adapters.insert(v->adapters.end(), lora->running.begin(), lora->running.end());
      v->adapters.insert(v->adapters.end(), lora->waiting.begin(), lora->waiting.end());
    }
    v->oldest_scrape = std::min(v->oldest_scrape, load.scraped_at);
    c.waiting[i] = load.waiting;
    c.running[i] = load.running;
    c.kv_usage[i] = load.kv_usage;
    c.lora[i] = load.lora;
    c.lora_room[i] = load.lora_room ? 1 : 0;
  }
  if (endpoints.size() == n) {
    c.endpoint.reserve(n);
    c.id.reserve(n);
    c.in_flight.reserve(n);
    for (const auto& ep : endpoints) {
      c.endpoint.push_back(ep.get());
      c.id.push_back(ep->id);
      c.in_flight.push_back(&ep->in_flight);
    }
  }
  std::sort(v->adapters.begin(), v->adapters.end());
  v->adapters.erase(std::unique(v->adapters.begin(), v->adapters.end()), v->adapters.end());
  v->samples = std::move(samples);
  v->healthy = std::move(healthy);
  v->in_flight = in_flight;
  return v;
}

bool PoolMetricsView::has_adapter(std::string_view model) const {
  return std::binary_search(adapters.begin(), adapters.end(), model,
                            [](std::string_view a, std::string_view b) { return a < b; });
}

void PoolState::publish_view() {
  std::vector<std::shared_ptr<const EndpointSample>> samples;
  std::vector<char> healthy;
  long in_flight_now = 0;
  samples.reserve(endpoints.size());
  healthy.reserve(endpoints.size());
  for (const auto& ep : endpoints) {
    samples.push_back(ep->latest.load(std::memory_order_acquire));
    healthy.push_back(ep->scrape_healthy.load(std::memory_order_relaxed) ? 1 : 0);
    in_flight_now += ep->in_flight.load(std::memory_order_relaxed);
  }
  view.store(make_metrics_view(std::move(samples), std::move(healthy), in_flight_now, endpoints),
             std::memory_order_release);
}

void Snapshot::publish_views() const {
  for (const auto& pool : pools) {
    pool->publish_view();
    if (listeners)
      for (const auto& l : *listeners) l->view_published(*pool);
  }
}

std::shared_ptr<const Snapshot> Datastore::reconcile(
    const std::shared_ptr<const config::Config>& config) {
  std::lock_guard lock(mu_);
  auto snap =
      std::make_shared<Snapshot>(Snapshot{config, Router(config), {}, ++generation_, {}, {}});
  std::map<std::string, Known> still_known;
  for (const auto& pool : config->pools) {
    auto state = std::make_shared<PoolState>();
    state->key = pool.ns() + "/" + pool.name();
    for (const auto& spec : pool.endpoints) {
      const std::string key = spec.key();
      std::shared_ptr<Endpoint> ep;
      if (auto it = known_.find(key); it != known_.end()) ep = it->second.endpoint.lock();
      if (!ep) ep = std::make_shared<Endpoint>(spec, next_id_++, in_flight_counters_->acquire());
      still_known[key] = Known{ep, ep->id};
      state->endpoints.push_back(std::move(ep));
    }
    snap->pools.push_back(std::move(state));
  }
  std::vector<std::uint32_t> removed;
  for (const auto& [key, known] : known_)
    if (!still_known.contains(key)) removed.push_back(known.id);
  known_ = std::move(still_known);
  snap->services.resize(snap->pools.size());
  if (factory_) {
    for (std::size_t i = 0; i < snap->pools.size(); ++i)
      snap->services[i].scheduler = factory_(*config, i, *snap->pools[i]);
  }
  for (const auto& l : *listeners_) l->pools_reconciled(*snap, removed);
  // The first views, heard by the listeners now bound.
  snap->listeners = listeners_;
  snap->publish_views();
  return snap;
}

}  // namespace infergate::gateway

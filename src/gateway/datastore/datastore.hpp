// The endpoints the data path picks from: their identity, the gateway's own live counters,
// what their /metrics pages last said, and their health.
//
// An Endpoint keeps its identity (name and address) across configuration reloads: reconcile()
// hands the same Endpoint object to the new snapshot when the key is unchanged, so in-flight
// counters, the latest scrape, ejection state and the prefix index's entries survive a reload.
// A Snapshot bundles one Config with its router and its pool states; the gateway publishes it
// through an atomic shared_ptr, and a request holds the snapshot it started with until it
// ends, so a reload never changes a request mid-way.
//
// A pool's state is data: its endpoints and its metrics view. The components that act on a
// pool keep their own per-pool state (the scheduling layer its prefix index, flow control its
// queue), kept by pool across reloads, and follow the pools through a PoolListener: the pools
// of each new snapshot and the endpoints that left, and every view published. The snapshot
// says which of them serve each of its pools (Snapshot::services: the pool's scheduler and
// flow controller, set while the snapshot is built), so a request follows the snapshot it
// started with to them.
//
// Metrics reach the data path as one immutable PoolMetricsView per pool: the scraper thread
// builds a new view after scrapes and swaps it in (one atomic shared_ptr store); a scheduling
// decision loads the view once and reads it without further synchronisation.
//
// Thread-safety: Snapshot, Endpoint::spec and views are immutable; counters are atomics.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.hpp"
#include "config/config.hpp"
#include "gateway/datastore/in_flight_counters.hpp"
#include "gateway/routing/router.hpp"
#include "metrics/engine_metrics.hpp"

namespace infergate::gateway::flowcontrol {
class FlowController;
}

namespace infergate::gateway {

class Scheduler;
class PoolListener;

// Failed scrapes of every endpoint since the process started: a counter that endpoints leaving
// the pools do not take back (llm_d_epp_datalayer_poll_errors_total).
inline std::atomic<std::uint64_t>& scrape_failures_of_all_endpoints() {
  static std::atomic<std::uint64_t> total{0};
  return total;
}

// One successful scrape of an endpoint's /metrics page.
struct EndpointSample {
  metrics::EndpointMetrics metrics;
  TimePoint scraped_at{};
};

// The latest end of any ejection set in the process (Clock time, ns; 0: none yet). It only
// grows: when it is not after `now`, no endpoint is ejected, and a decision skips asking each
// one (OutlierState::eject_until keeps it).
inline std::atomic<std::int64_t>& latest_ejection_end_ns() {
  static std::atomic<std::int64_t> latest{0};
  return latest;
}

// What request outcomes say about an endpoint (outlier ejection, see OutlierDetector).
class OutlierState {
 public:
  std::atomic<int> consecutive_failures{0};
  std::atomic<int> times_ejected{0};  // grows the back-off; reset by a long healthy run
  std::atomic<std::uint64_t> ejections_total{0};

  // When the ejection ends (Clock time, ns); 0: never ejected.
  std::int64_t ejected_until_ns() const {
    return ejected_until_ns_.load(std::memory_order_relaxed);
  }
  // Holds the endpoint out of picking until `until_ns` (Clock time).
  void eject_until(std::int64_t until_ns) {
    std::atomic<std::int64_t>& latest = latest_ejection_end_ns();
    std::int64_t seen = latest.load(std::memory_order_relaxed);
    while (seen < until_ns &&
           !latest.compare_exchange_weak(seen, until_ns, std::memory_order_relaxed)) {
    }
    ejected_until_ns_.store(until_ns, std::memory_order_relaxed);
  }

 private:
  std::atomic<std::int64_t> ejected_until_ns_{0};
};

struct Endpoint {
  // `in_flight_counter`: where the in-flight count lives (the Datastore's packed counters;
  // one of its own by default).
  Endpoint(config::EndpointSpec s, std::uint32_t endpoint_id,
           std::shared_ptr<std::atomic<int>> in_flight_counter = InFlightCounters::standalone())
      : id(endpoint_id),
        in_flight(*in_flight_counter),
        spec(std::move(s)),
        address(spec.host + ":" + std::to_string(spec.port)),
        in_flight_counter_(std::move(in_flight_counter)) {}

  // First, in one cache line: what a scheduling decision may read of every endpoint of the
  // pool (its id, live counters and ejection; the in-flight count itself is packed with the
  // other endpoints', see in_flight_counters.hpp), so a decision over hundreds of endpoints
  // misses one line per endpoint, not three, when it reads them here.
  alignas(64) const std::uint32_t id;  // stable for the endpoint's life; keys the prefix index
  // The gateway's live counters, updated at dispatch and completion: they fill the gap
  // between scrapes.
  std::atomic<int>& in_flight;            // requests sent and not finished
  std::atomic<long> in_flight_tokens{0};  // their prompt estimate plus expected output
  OutlierState outlier;

  const config::EndpointSpec spec;
  const std::string address;  // host:port
  std::atomic<std::uint64_t> requests{0};

  // Written by the scraper only.
  std::atomic<std::shared_ptr<const EndpointSample>> latest;  // last good scrape; null: none yet
  std::atomic<bool> scrape_healthy{
      true};  // false after consecutive failures or a refused connection
  std::atomic<std::uint64_t> scrape_failures_total{0};

 private:
  std::shared_ptr<std::atomic<int>> in_flight_counter_;  // owns where `in_flight` is
};

// What a scheduling decision reads of an endpoint's latest sample, flat: one array of these per
// view, so a decision over hundreds of endpoints streams through it instead of following each
// endpoint's sample.
struct EndpointLoad {
  double waiting = 0;                       // engine queue
  double running = 0;                       // engine batch
  double kv_usage = 0;                      // 0..1 (more is cut to 1); 0 when not reported
  const metrics::LoraInfo* lora = nullptr;  // into the view's sample; null: no adapters reported
  bool lora_room = false;                   // adapters running and waiting < its max
  TimePoint scraped_at{};
  bool sampled = false;  // false: never scraped (the other fields are zero)
  bool healthy = true;   // scrape health
};

// The pool's endpoints as the last scrapes saw them, parallel to PoolState::endpoints.
struct PoolMetricsView {
  // Unique to this view in the process (a cache of what is computed from a view keys on it).
  std::uint64_t serial = 0;
  std::vector<std::shared_ptr<const EndpointSample>> samples;  // null: never scraped
  std::vector<char> healthy;                                   // scrape health
  std::vector<EndpointLoad> loads;                             // from `samples` and `healthy`
  // The loads' signals as columns, for a decision to copy whole when every endpoint is healthy
  // and freshly sampled (an endpoint never sampled has zeros and no adapters).
  struct Columns {
    std::vector<double> waiting, running, kv_usage;
    std::vector<const metrics::LoraInfo*> lora;
    std::vector<std::uint8_t> lora_room;
    // The endpoints the view was made from, with their ids (empty when made from samples alone).
    // Not owned: valid with the endpoints of the PoolState that published the view.
    std::vector<Endpoint*> endpoint;
    std::vector<std::uint32_t> id;
    // &endpoint[i]->in_flight (packed counters). Read only while the endpoints live: a counter
    // released with its endpoint may be handed to another one.
    std::vector<const std::atomic<int>*> in_flight;
  } columns;
  bool all_healthy = true;
  bool all_sampled = true;
  TimePoint oldest_scrape = TimePoint::max();  // of the sampled endpoints
  long in_flight = 0;  // the gateway's in-flight requests on the pool when the view was built
  // Every adapter running or waiting on some endpoint, sorted: a request for any other model
  // fits an endpoint by its free adapter slots alone.
  std::vector<std::string> adapters;
  bool has_adapter(std::string_view model) const;
};

// A view of these samples and scrape health flags (parallel to the pool's endpoints), its loads
// made from them. With `endpoints` (parallel to them too), the view also lists the endpoints.
std::shared_ptr<const PoolMetricsView> make_metrics_view(
    std::vector<std::shared_ptr<const EndpointSample>> samples, std::vector<char> healthy,
    long in_flight = 0, std::span<const std::shared_ptr<Endpoint>> endpoints = {});

struct PoolState {
  std::string key;  // namespace/name: a pool's components keep their state under it
  std::vector<std::shared_ptr<Endpoint>> endpoints;
  std::atomic<std::shared_ptr<const PoolMetricsView>> view;

  // A new view from the endpoints' latest samples and health (Snapshot::publish_views, or a
  // test of the pool alone).
  void publish_view();
};

// What serves one pool of a snapshot: its scheduler (the Datastore's SchedulerFactory) and its
// flow controller (bound by flow control's listener; null: none).
struct PoolServices {
  std::shared_ptr<Scheduler> scheduler;
  std::shared_ptr<flowcontrol::FlowController> flow;
};

using PoolListeners = std::vector<std::shared_ptr<PoolListener>>;

struct Snapshot {
  std::shared_ptr<const config::Config> config;
  Router router;
  std::vector<std::shared_ptr<PoolState>> pools;  // parallel to config->pools
  std::uint64_t generation = 0;
  std::vector<PoolServices> services;  // parallel to pools
  // Told of every view published (set by the Datastore; null: none).
  std::shared_ptr<const PoolListeners> listeners;

  // A new view of every pool (the scraper thread after scrapes, reconcile); the listeners hear
  // of each.
  void publish_views() const;
};

// Where requests and the scraper find the current snapshot (the gateway publishes it).
class SnapshotSource {
 public:
  virtual ~SnapshotSource() = default;
  virtual std::shared_ptr<const Snapshot> current() const = 0;
};

// Builds the scheduler of one pool (the scheduling layer provides it).
using SchedulerFactory = std::function<std::shared_ptr<Scheduler>(
    const config::Config&, std::size_t pool_index, PoolState&)>;

// A component with state per pool follows the pools through this (every method may run on the
// thread that reloads, or, for views, the scraper's).
class PoolListener {
 public:
  virtual ~PoolListener() = default;
  // A new snapshot is being built (not yet published): its pools, and the ids of the endpoints
  // that left since the previous one. A listener may bind itself to the pools here (its entry
  // in Snapshot::services, sized to the pools).
  virtual void pools_reconciled(Snapshot& /*snapshot*/,
                                std::span<const std::uint32_t> /*removed_endpoints*/) {}
  // `pool` has a new metrics view.
  virtual void view_published(const PoolState& /*pool*/) {}
};

class Datastore {
 public:
  explicit Datastore(SchedulerFactory factory = {},
                     std::vector<std::shared_ptr<PoolListener>> listeners = {})
      : factory_(std::move(factory)),
        listeners_(std::make_shared<const PoolListeners>(std::move(listeners))) {}
  // Builds a snapshot for `config`, reusing the Endpoint of every unchanged key, and tells the
  // listeners (with the endpoints that left) before it is returned.
  std::shared_ptr<const Snapshot> reconcile(const std::shared_ptr<const config::Config>& config);

 private:
  SchedulerFactory factory_;
  std::shared_ptr<const PoolListeners> listeners_;
  std::mutex mu_;
  struct Known {
    std::weak_ptr<Endpoint> endpoint;
    std::uint32_t id = 0;
  };
  std::map<std::string, Known> known_;
  std::uint32_t next_id_ = 1;
  std::uint64_t generation_ = 0;
  // Where the endpoints made here count their requests in flight.
  std::shared_ptr<InFlightCounters> in_flight_counters_ = std::make_shared<InFlightCounters>();
};

}  // namespace infergate::gateway

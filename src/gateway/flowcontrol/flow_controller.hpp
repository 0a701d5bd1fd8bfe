// Flow control of one pool, with GKE Inference Gateway's semantics (docs/configuration.md, "Flow
// control"): admits, queues or sheds each request by its priority before an endpoint is picked.
//
//   priority > 0 (Critical): goes at once while the pool is below `dispatch_threshold`
//     saturation (or has an idle endpoint); otherwise waits in the queue, up to `queue_ttl`
//     (then 503 "request timed out in queue"); shed (429) only when its band's or the queue's
//     limits are full.
//   priority == 0 (Standard): goes while saturation < `standard_threshold`; otherwise 429 at
//     once, or, with `standard_allowance` > 0, waits up to that long before the 429.
//   priority < 0 (Sheddable): the same with the lower `sheddable_threshold`.
// A pool with no endpoint in picking lets every request through (the picker answers 503).
// A request never goes ahead of queued requests of its own or a higher priority. Queued
// requests are dispatched by events (a request on the pool finished, a metrics view was
// published), highest band first, round-robin between flows, FCFS inside a flow, while the pool
// is below `dispatch_threshold` or has an idle endpoint. A client that disconnects while queued
// leaves the queue at once.
//
// The controller belongs to a pool across reloads (FlowControl keeps it); attach() points it at
// the pool's newest state.
//
// Thread-safety: every method from any thread; one mutex guards the queue; a waiting request
// is woken on its own executor.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "common/clock.hpp"
#include "common/histogram.hpp"
#include "gateway/error/request_error.hpp"
#include "gateway/flowcontrol/flow_queue.hpp"
#include "gateway/flowcontrol/saturation.hpp"

namespace infergate::metrics {
class PrometheusWriter;
}

namespace infergate::gateway::flowcontrol {

struct FlowControlOptions {
  bool enabled = true;
  SaturationOptions saturation;
  double sheddable_threshold = 0.8;
  double standard_threshold = 1.0;
  double dispatch_threshold = 1.0;
  Duration queue_ttl = std::chrono::seconds(30);
  Duration standard_allowance = Duration::zero();  // Standard and Sheddable may wait this long
  QueueLimits band_limits{};
  QueueLimits queue_limits{};
  std::chrono::seconds retry_after{1};
};

struct AdmitRequest {
  std::int64_t priority = 0;
  std::string flow = "default-flow";
  std::size_t bytes = 0;
};

// Admitted, or refused with the error the client gets (429 with Retry-After when shed, 503 when
// it timed out in the queue, 499 when the client left while queued).
struct Admission {
  std::optional<RequestError> refusal;
  Duration waited{};
  bool admitted() const { return !refusal; }
};

class FlowController {
 public:
  FlowController(std::string pool_name, const Clock& clock, FlowControlOptions options);
  ~FlowController();

  void attach(const std::shared_ptr<PoolState>& pool);
  void set_options(FlowControlOptions options);
  // The Retry-After of a 429 (options may change at a reload: read under the lock).
  std::chrono::seconds retry_after() const {
    std::lock_guard lock(mu_);
    return options_.retry_after;
  }

  boost::asio::awaitable<Admission> admit(AdmitRequest request);
  // Capacity may have freed (a request finished, a metrics view was published): dispatch.
  void on_capacity_changed();

  // Prometheus sample lines of one family (a family's lines must stay together, so the caller
  // renders each family over every pool in turn).
  enum class Family { kSaturation, kQueueSize, kQueueBytes, kShed, kQueueDuration };
  void render(metrics::PrometheusWriter& writer, Family family) const;
  std::size_t queued() const;

 private:
  struct Waiter;
  void dispatch_locked(TimePoint now);
  Saturation measure_locked(TimePoint now) const;
  void count_shed(std::int64_t priority, const std::string& reason);
  RequestError shed(std::string message) const;  // a 429 with Retry-After (under the lock)
  void observe_wait(std::int64_t priority, const std::string& outcome, Duration waited);

  const std::string pool_name_;
  const Clock& clock_;
  mutable std::mutex mu_;
  FlowControlOptions options_;
  std::weak_ptr<PoolState> pool_;  // weak: the pool state holds its controller
  FlowQueue queue_;
  std::map<std::uint64_t, std::shared_ptr<Waiter>> waiters_;  // the queued ones, by id
  std::uint64_t next_id_ = 1;
  long pending_ = 0;  // dispatched from the queue, not yet in flight on an endpoint
  std::map<std::pair<std::int64_t, std::string>, std::uint64_t> shed_;
  std::map<std::pair<std::int64_t, std::string>, std::unique_ptr<AtomicHistogram>> waits_;
  double last_saturation_ = 0;
};

}  // namespace infergate::gateway::flowcontrol

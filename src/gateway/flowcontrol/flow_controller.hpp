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
// Metrics, upstream's families (GIE v1.5.0 under inference_extension_, llm-d router v0.10.0
// under llm_d_epp_): the queue's requests and bytes by fairness id, priority, model and target
// model; each request's time in flow control by those and its outcome, upstream's names:
//   Dispatched               let through, at once or from the queue
//   RejectedCapacity         shed at admission (saturated, its band or the queue full)
//   EvictedTTL               left the queue at its deadline (the TTL, or a Standard or Sheddable
//                            request's allowance)
//   EvictedContextCancelled  the client went away while queued
//   EvictedOther             the waiting coroutine was destroyed (the worker shut down)
// (upstream's RejectedOther, a configuration error, has no counterpart here); the same
// outcomes counted per request (llm-d's flow_control_requests_total); the pool's saturation and
// its endpoints with stale metrics at the last measure. The enqueue and dispatch-cycle timings,
// which upstream reports without a pool, go to the FlowTimings shared by every pool.
// The model and fairness id labels come as the admit phase passes them (bounded there).
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
#include <string_view>
#include <tuple>

#include "common/clock.hpp"
#include "common/cycle_clock.hpp"
#include "common/histogram.hpp"
#include "gateway/error/request_error.hpp"
#include "gateway/flowcontrol/flow_queue.hpp"
#include "gateway/flowcontrol/flow_timings.hpp"
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
  // Metrics labels only, viewed in the request's context (which outlives its admission): the
  // model as the client named it, as sent upstream, and the fairness_id label when it differs
  // from `flow` (capped for cardinality; empty: flow).
  std::string_view model{};
  std::string_view target_model{};
  std::string_view fairness_label{};
  std::string_view fairness_id() const {
    return fairness_label.empty() ? std::string_view(flow) : fairness_label;
  }
  // Called once if the request is queued, before it waits (the front end then watches the
  // client, whose leaving cancels the wait).
  void (*on_queued)(void* context) = nullptr;
  void* on_queued_context = nullptr;
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
  // `timings`: shared with the other pools' controllers (null: its own).
  FlowController(std::string pool_name, const Clock& clock, FlowControlOptions options,
                 std::shared_ptr<FlowTimings> timings = nullptr);
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

  // Prometheus sample lines of one family under `name` (a family's lines must stay together,
  // so the caller renders each family over every pool in turn).
  enum class Family {
    kSaturation,     // {inference_pool}
    kQueueSize,      // {fairness_id, inference_pool, model_name, priority, target_model_name}
    kQueueBytes,     // the same
    kShed,           // ours: {inference_pool, priority, reason}
    kQueueDuration,  // {fairness_id, inference_pool, model_name, outcome, priority,
                     //  target_model_name}
    kRequests,       // {inference_pool, outcome, priority}
  };
  void render(metrics::PrometheusWriter& writer, Family family, std::string_view name) const;
  std::size_t queued() const;
  // Endpoints whose metrics were missing or stale at the last saturation measure.
  std::size_t stale_endpoints() const;
  const FlowTimings& timings() const { return *timings_; }

 private:
  struct Waiter;
  enum class Outcome {
    kDispatched,
    kRejectedCapacity,
    kEvictedTtl,
    kEvictedContextCancelled,
    kEvictedOther
  };
  static std::string_view outcome_name(Outcome outcome);  // upstream's
  void dispatch_locked(TimePoint now);
  Saturation measure_locked(TimePoint now);
  void count_shed(std::int64_t priority, const std::string& reason);
  RequestError shed(std::string message) const;  // a 429 with Retry-After (under the lock)
  // The request's end in flow control (under the lock).
  void finish(const AdmitRequest& request, Outcome outcome, Duration waited);
  // The request's enqueue took since `start` (under the lock).
  void enqueued(const AdmitRequest& request, std::string_view outcome, CycleClock::Ticks start);

  const std::string pool_name_;
  const Clock& clock_;
  const std::shared_ptr<FlowTimings> timings_;
  mutable std::mutex mu_;
  FlowControlOptions options_;
  std::weak_ptr<PoolState> pool_;  // weak: the pool state holds its controller
  FlowQueue queue_;
  std::map<std::uint64_t, std::shared_ptr<Waiter>> waiters_;  // the queued ones, by id
  std::uint64_t next_id_ = 1;
  long pending_ = 0;  // dispatched from the queue, not yet in flight on an endpoint
  std::map<std::pair<std::int64_t, std::string>, std::uint64_t> shed_;
  // By fairness id, priority, outcome, model, target model; looked up by views (no copy of the
  // names once a series exists).
  using WaitKey = std::tuple<std::string, std::int64_t, Outcome, std::string, std::string>;
  using WaitKeyView =
      std::tuple<std::string_view, std::int64_t, Outcome, std::string_view, std::string_view>;
  struct WaitLess {
    using is_transparent = void;
    static WaitKeyView view(const WaitKey& k) {
      return {std::get<0>(k), std::get<1>(k), std::get<2>(k), std::get<3>(k), std::get<4>(k)};
    }
    static const WaitKeyView& view(const WaitKeyView& k) { return k; }
    template <typename A, typename B>
    bool operator()(const A& a, const B& b) const {
      return view(a) < view(b);
    }
  };
  std::map<WaitKey, std::unique_ptr<AtomicHistogram>, WaitLess> waits_;
  std::map<std::pair<Outcome, std::int64_t>, std::uint64_t> requests_;
  double last_saturation_ = 0;
  std::size_t last_stale_ = 0;
};

}  // namespace infergate::gateway::flowcontrol

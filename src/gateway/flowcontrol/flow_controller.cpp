#include "gateway/flowcontrol/flow_controller.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "metrics/prometheus_writer.hpp"

namespace infergate::gateway::flowcontrol {
namespace net = boost::asio;

namespace {
enum class WaitState { kQueued, kDispatched, kGone };

std::string priority_label(std::int64_t p) { return std::to_string(p); }
}  // namespace

// One queued request: woken on its own executor by cancelling its timer.
struct FlowController::Waiter {
  explicit Waiter(const net::any_io_executor& ex) : timer(ex) {}
  net::steady_timer timer;
  WaitState state = WaitState::kQueued;  // guarded by the controller's mutex
};

FlowController::FlowController(std::string pool_name, const Clock& clock,
                               FlowControlOptions options)
    : pool_name_(std::move(pool_name)),
      clock_(clock),
      options_(options),
      queue_(options.band_limits, options.queue_limits) {}

FlowController::~FlowController() = default;

void FlowController::attach(const std::shared_ptr<PoolState>& pool) {
  std::lock_guard lock(mu_);
  pool_ = pool;
}

void FlowController::set_options(FlowControlOptions options) {
  std::lock_guard lock(mu_);
  options_ = options;
  queue_.set_limits(options.band_limits, options.queue_limits);
}

Saturation FlowController::measure_locked(TimePoint now) const {
  const auto pool = pool_.lock();
  if (!pool) return Saturation{};
  return measure_saturation(*pool, now, options_.saturation, pending_);
}

void FlowController::count_shed(std::int64_t priority, const std::string& reason) {
  ++shed_[{priority, reason}];
}

void FlowController::observe_wait(std::int64_t priority, const std::string& outcome,
                                  Duration waited) {
  auto& h = waits_[{priority, outcome}];
  if (!h)
    h = std::make_unique<AtomicHistogram>(
        std::vector<double>{0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60});
  h->observe(waited.count());
}

RequestError FlowController::shed(std::string message) const {
  RequestError e = RequestError::gateway(429, std::move(message));
  e.retry_after_seconds = static_cast<int>(options_.retry_after.count());
  return e;
}

net::awaitable<Admission> FlowController::admit(AdmitRequest request) {
  const TimePoint start = clock_.now();
  const net::any_io_executor executor = co_await net::this_coro::executor;
  std::shared_ptr<Waiter> waiter;
  std::uint64_t id = 0;
  Duration patience{};
  {
    std::lock_guard lock(mu_);
    if (!options_.enabled) co_return Admission{};
    const Saturation sat = measure_locked(start);
    last_saturation_ = sat.value();
    const std::int64_t p = request.priority;
    const double threshold = p > 0    ? options_.dispatch_threshold
                             : p == 0 ? options_.standard_threshold
                                      : options_.sheddable_threshold;
    // No endpoint to wait for: the picker answers 503 at once, better than a queue or a 429.
    if (sat.usable == 0) co_return Admission{};
    const auto highest = queue_.highest_priority();
    const bool nobody_ahead = !highest || *highest < p;
    if (nobody_ahead && (sat.idle_endpoint || sat.value() < threshold)) {
      observe_wait(p, "dispatched", Duration::zero());
      co_return Admission{};
    }
    patience =
        p > 0 ? options_.queue_ttl : std::min(options_.standard_allowance, options_.queue_ttl);
    if (patience <= Duration::zero()) {
      count_shed(p, "saturated");
      observe_wait(p, "shed", Duration::zero());
      co_return Admission{shed("the pool " + pool_name_ + " is saturated; requests of priority " +
                               priority_label(p) + " are shed (retry later)"),
                          {}};
    }
    waiter = std::make_shared<Waiter>(executor);
    id = next_id_++;
    const auto pushed = queue_.push(QueuedRequest{id, p, request.flow, request.bytes});
    if (pushed != FlowQueue::Push::kQueued) {
      const std::string what = pushed == FlowQueue::Push::kBandFull ? "band" : "queue";
      count_shed(p, what + "_full");
      observe_wait(p, "shed", Duration::zero());
      co_return Admission{shed("the " + what + " of pool " + pool_name_ + " is full for priority " +
                               priority_label(p)),
                          {}};
    }
    waiters_[id] = waiter;
    waiter->timer.expires_after(
        std::chrono::duration_cast<std::chrono::steady_clock::duration>(patience));
  }
  // Leaves the queue (or gives back its dispatch) however the coroutine ends, even destroyed
  // while suspended.
  struct Ticket {
    FlowController& fc;
    Waiter& w;
    std::uint64_t id;
    ~Ticket() {
      std::lock_guard lock(fc.mu_);
      if (w.state == WaitState::kDispatched) {
        --fc.pending_;
      } else if (w.state == WaitState::kQueued) {
        fc.queue_.remove(id);
        fc.waiters_.erase(id);
      }
      w.state = WaitState::kGone;
    }
  } ticket{*this, *waiter, id};
  // Woken by dispatch (the timer cancelled), by the deadline, or by the client going away
  // (the request's coroutine cancelled).
  co_await waiter->timer.async_wait(net::as_tuple(net::use_awaitable));
  const auto cancelled = (co_await net::this_coro::cancellation_state).cancelled();
  const Duration waited = clock_.now() - start;
  std::lock_guard lock(mu_);
  if (waiter->state == WaitState::kDispatched) {
    observe_wait(request.priority, "dispatched", waited);
    co_return Admission{std::nullopt, waited};
  }
  queue_.remove(id);  // not dispatched: out of the queue before anyone else can pick it
  waiters_.erase(id);
  waiter->state = WaitState::kGone;
  if (cancelled != net::cancellation_type::none) {
    observe_wait(request.priority, "cancelled", waited);
    co_return Admission{RequestError::client(499, "the client went away while queued"), waited};
  }
  if (request.priority <= 0) {
    count_shed(request.priority, "allowance_expired");
    observe_wait(request.priority, "shed", waited);
    co_return Admission{shed("the pool " + pool_name_ +
                             " stayed saturated for the queueing allowance (retry later)"),
                        waited};
  }
  count_shed(request.priority, "ttl_expired");
  observe_wait(request.priority, "expired", waited);
  co_return Admission{RequestError::unavailable("request timed out in queue"), waited};
}

void FlowController::on_capacity_changed() {
  std::lock_guard lock(mu_);
  dispatch_locked(clock_.now());
}

void FlowController::dispatch_locked(TimePoint now) {
  while (!queue_.empty()) {
    const Saturation sat = measure_locked(now);
    last_saturation_ = sat.value();
    if (!sat.idle_endpoint && sat.value() >= options_.dispatch_threshold) return;
    auto next = queue_.pop();
    auto it = waiters_.find(next->id);
    if (it == waiters_.end()) continue;
    std::shared_ptr<Waiter> w = it->second;
    waiters_.erase(it);
    w->state = WaitState::kDispatched;
    ++pending_;
    net::post(w->timer.get_executor(), [w] { w->timer.cancel(); });
  }
}

std::size_t FlowController::queued() const {
  std::lock_guard lock(mu_);
  return queue_.size();
}

void FlowController::render(metrics::PrometheusWriter& w, Family family) const {
  std::lock_guard lock(mu_);
  const auto band_labels = [&](std::int64_t p) {
    return metrics::LabelSet{{"inference_pool", pool_name_}, {"priority", priority_label(p)}};
  };
  switch (family) {
    case Family::kSaturation:
      w.sample("inference_extension_flow_control_pool_saturation",
               metrics::LabelSet{{"inference_pool", pool_name_}}, last_saturation_);
      break;
    case Family::kQueueSize:
      for (const auto& [p, b] : queue_.bands())
        w.sample("inference_extension_flow_control_queue_size", band_labels(p),
                 static_cast<double>(b.requests));
      break;
    case Family::kQueueBytes:
      for (const auto& [p, b] : queue_.bands())
        w.sample("infergate_flow_control_queue_bytes", band_labels(p),
                 static_cast<double>(b.bytes));
      break;
    case Family::kShed:
      for (const auto& [key, n] : shed_)
        w.sample("infergate_flow_control_shed_total",
                 band_labels(key.first).add("reason", key.second), static_cast<double>(n));
      break;
    case Family::kQueueDuration:
      for (const auto& [key, h] : waits_) {
        const auto r = h->read();
        w.histogram("inference_extension_flow_control_request_queue_duration_seconds",
                    band_labels(key.first).add("outcome", key.second), h->bounds(), r.buckets,
                    r.sum, r.count);
      }
      break;
  }
}

}  // namespace infergate::gateway::flowcontrol

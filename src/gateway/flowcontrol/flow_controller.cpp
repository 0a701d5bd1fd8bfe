#include "gateway/flowcontrol/flow_controller.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <vector>

#include "metrics/prometheus_writer.hpp"

namespace infergate::gateway::flowcontrol {
namespace net = boost::asio;

namespace {
enum class WaitState { kQueued, kDispatched, kGone };

std::string priority_label(std::int64_t p) { return std::to_string(p); }

// Upstream's request-queue-duration buckets.
std::vector<double> queue_duration_bounds() {
  return {0.0001, 0.0005, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1,
          0.25,   0.5,    1.0,   2.5,   5.0,  10.0,  30.0, 60.0};
}

// Nanoseconds since `start`, on the cycle clock (these spans are microseconds, read on every
// request: a steady_clock read costs two to four times a time-stamp counter's).
std::chrono::nanoseconds since(CycleClock::Ticks start) {
  return std::chrono::nanoseconds(CycleClock::ns_between(start, CycleClock::now()));
}
}  // namespace

// One queued request: woken on its own executor by cancelling its timer.
struct FlowController::Waiter {
  explicit Waiter(const net::any_io_executor& ex) : timer(ex) {}
  net::steady_timer timer;
  WaitState state = WaitState::kQueued;  // guarded by the controller's mutex
};

FlowController::FlowController(std::string pool_name, const Clock& clock,
                               FlowControlOptions options, std::shared_ptr<FlowTimings> timings)
    : pool_name_(std::move(pool_name)),
      clock_(clock),
      timings_(timings ? std::move(timings) : std::make_shared<FlowTimings>()),
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

Saturation FlowController::measure_locked(TimePoint now) {
  const auto pool = pool_.lock();
  const Saturation sat =
      pool ? measure_saturation(*pool, now, options_.saturation, pending_) : Saturation{};
  last_saturation_ = sat.value();
  last_stale_ = sat.stale;
  return sat;
}

void FlowController::count_shed(std::int64_t priority, const std::string& reason) {
  ++shed_[{priority, reason}];
}

void FlowController::finish(const AdmitRequest& request, Outcome outcome, Duration waited) {
  const WaitKeyView key{request.fairness_id(), request.priority, outcome, request.model,
                        request.target_model};
  auto it = waits_.find(key);
  if (it == waits_.end())
    it = waits_
             .emplace(WaitKey{std::string(std::get<0>(key)), request.priority, outcome,
                              std::string(request.model), std::string(request.target_model)},
                      std::make_unique<AtomicHistogram>(queue_duration_bounds()))
             .first;
  it->second->observe(waited.count());
  ++requests_[{outcome, request.priority}];
}

void FlowController::enqueued(const AdmitRequest& request, std::string_view outcome,
                              CycleClock::Ticks start) {
  timings_->observe_enqueue(request.fairness_id(), request.priority, outcome, since(start));
}

RequestError FlowController::shed(std::string message) const {
  RequestError e = RequestError::gateway(429, std::move(message));
  e.retry_after_seconds = static_cast<int>(options_.retry_after.count());
  return e;
}

net::awaitable<Admission> FlowController::admit(AdmitRequest request) {
  const CycleClock::Ticks enqueue_start = CycleClock::now();
  const TimePoint start = clock_.now();
  const net::any_io_executor executor = co_await net::this_coro::executor;
  std::shared_ptr<Waiter> waiter;
  std::uint64_t id = 0;
  Duration patience{};
  {
    std::lock_guard lock(mu_);
    if (!options_.enabled) co_return Admission{};
    const Saturation sat = measure_locked(start);
    const std::int64_t p = request.priority;
    const double threshold = p > 0    ? options_.dispatch_threshold
                             : p == 0 ? options_.standard_threshold
                                      : options_.sheddable_threshold;
    const auto highest = queue_.highest_priority();
    const bool nobody_ahead = !highest || *highest < p;
    // No endpoint to wait for: the picker answers 503 at once, better than a queue or a 429.
    if (sat.usable == 0 || (nobody_ahead && (sat.idle_endpoint || sat.value() < threshold))) {
      enqueued(request, "Dispatched", enqueue_start);
      finish(request, Outcome::kDispatched, Duration::zero());
      co_return Admission{};
    }
    patience =
        p > 0 ? options_.queue_ttl : std::min(options_.standard_allowance, options_.queue_ttl);
    if (patience <= Duration::zero()) {
      count_shed(p, "saturated");
      enqueued(request, "RejectedCapacity", enqueue_start);
      finish(request, Outcome::kRejectedCapacity, Duration::zero());
      co_return Admission{shed("the pool " + pool_name_ + " is saturated; requests of priority " +
                               priority_label(p) + " are shed (retry later)"),
                          {}};
    }
    waiter = std::make_shared<Waiter>(executor);
    id = next_id_++;
    const auto pushed = queue_.push(
        QueuedRequest{id, p, request.flow, request.bytes, std::string(request.model),
                      std::string(request.target_model), std::string(request.fairness_id())});
    if (pushed != FlowQueue::Push::kQueued) {
      const std::string what = pushed == FlowQueue::Push::kBandFull ? "band" : "queue";
      count_shed(p, what + "_full");
      enqueued(request, "RejectedCapacity", enqueue_start);
      finish(request, Outcome::kRejectedCapacity, Duration::zero());
      co_return Admission{shed("the " + what + " of pool " + pool_name_ + " is full for priority " +
                               priority_label(p)),
                          {}};
    }
    waiters_[id] = waiter;
    waiter->timer.expires_after(
        std::chrono::duration_cast<std::chrono::steady_clock::duration>(patience));
    // Upstream's word for a request the enqueue left in the queue.
    enqueued(request, "NotYetFinalized", enqueue_start);
  }
  // Leaves the queue (or gives back its dispatch) however the coroutine ends, even destroyed
  // while suspended: then its outcome is counted here.
  struct Ticket {
    FlowController& fc;
    Waiter& w;
    std::uint64_t id;
    const AdmitRequest& request;
    TimePoint start;
    bool resumed = false;
    ~Ticket() {
      std::lock_guard lock(fc.mu_);
      if (!resumed)
        fc.finish(request,
                  w.state == WaitState::kDispatched ? Outcome::kDispatched : Outcome::kEvictedOther,
                  fc.clock_.now() - start);
      if (w.state == WaitState::kDispatched) {
        --fc.pending_;
      } else if (w.state == WaitState::kQueued) {
        fc.queue_.remove(id);
        fc.waiters_.erase(id);
      }
      w.state = WaitState::kGone;
    }
  } ticket{*this, *waiter, id, request, start};
  if (request.on_queued) request.on_queued(request.on_queued_context);
  // Woken by dispatch (the timer cancelled), by the deadline, or by the client going away
  // (the request's coroutine cancelled).
  co_await waiter->timer.async_wait(net::as_tuple(net::use_awaitable));
  ticket.resumed = true;
  const auto cancelled = (co_await net::this_coro::cancellation_state).cancelled();
  const Duration waited = clock_.now() - start;
  std::lock_guard lock(mu_);
  if (waiter->state == WaitState::kDispatched) {
    finish(request, Outcome::kDispatched, waited);
    co_return Admission{std::nullopt, waited};
  }
  queue_.remove(id);  // not dispatched: out of the queue before anyone else can pick it
  waiters_.erase(id);
  waiter->state = WaitState::kGone;
  if (cancelled != net::cancellation_type::none) {
    finish(request, Outcome::kEvictedContextCancelled, waited);
    co_return Admission{RequestError::client(499, "the client went away while queued"), waited};
  }
  finish(request, Outcome::kEvictedTtl, waited);
  if (request.priority <= 0) {
    count_shed(request.priority, "allowance_expired");
    co_return Admission{shed("the pool " + pool_name_ +
                             " stayed saturated for the queueing allowance (retry later)"),
                        waited};
  }
  count_shed(request.priority, "ttl_expired");
  co_return Admission{RequestError::unavailable("request timed out in queue"), waited};
}

void FlowController::on_capacity_changed() {
  std::lock_guard lock(mu_);
  if (!queue_.empty()) dispatch_locked(clock_.now());  // (most calls find no one waiting)
}

void FlowController::dispatch_locked(TimePoint now) {
  if (queue_.empty()) return;
  const CycleClock::Ticks cycle_start = CycleClock::now();
  while (!queue_.empty()) {
    const Saturation sat = measure_locked(now);
    if (!sat.idle_endpoint && sat.value() >= options_.dispatch_threshold) break;
    auto next = queue_.pop();
    auto it = waiters_.find(next->id);
    if (it == waiters_.end()) continue;
    std::shared_ptr<Waiter> w = it->second;
    waiters_.erase(it);
    w->state = WaitState::kDispatched;
    ++pending_;
    net::post(w->timer.get_executor(), [w] { w->timer.cancel(); });
  }
  timings_->observe_dispatch_cycle(since(cycle_start));
}

std::size_t FlowController::queued() const {
  std::lock_guard lock(mu_);
  return queue_.size();
}

std::size_t FlowController::stale_endpoints() const {
  std::lock_guard lock(mu_);
  return last_stale_;
}

std::string_view FlowController::outcome_name(Outcome outcome) {
  switch (outcome) {
    case Outcome::kDispatched:
      return "Dispatched";
    case Outcome::kRejectedCapacity:
      return "RejectedCapacity";
    case Outcome::kEvictedTtl:
      return "EvictedTTL";
    case Outcome::kEvictedContextCancelled:
      return "EvictedContextCancelled";
    case Outcome::kEvictedOther:
      return "EvictedOther";
  }
  return "EvictedOther";
}

// Label names in the order Go's client writes them (sorted), as upstream's pages have them.
void FlowController::render(metrics::PrometheusWriter& w, Family family,
                            std::string_view name) const {
  using metrics::LabelSet;
  std::lock_guard lock(mu_);
  switch (family) {
    case Family::kSaturation:
      w.sample(name, LabelSet{{"inference_pool", pool_name_}}, last_saturation_);
      break;
    case Family::kQueueSize:
    case Family::kQueueBytes: {
      // Grouped at render time: a page is rare, a queue change is not.
      struct Group {
        std::size_t requests = 0, bytes = 0;
      };
      std::map<std::tuple<std::string_view, std::int64_t, std::string_view, std::string_view>,
               Group>
          groups;
      queue_.for_each([&](const QueuedRequest& r) {
        Group& g = groups[{r.fairness_id, r.priority, r.model, r.target_model}];
        ++g.requests;
        g.bytes += r.bytes;
      });
      for (const auto& [key, g] : groups) {
        const auto& [flow, priority, model, target] = key;
        w.sample(name,
                 LabelSet{{"fairness_id", flow},
                          {"inference_pool", pool_name_},
                          {"model_name", model},
                          {"priority", priority_label(priority)},
                          {"target_model_name", target}},
                 static_cast<double>(family == Family::kQueueSize ? g.requests : g.bytes));
      }
      break;
    }
    case Family::kShed:
      for (const auto& [key, n] : shed_)
        w.sample(name,
                 LabelSet{{"inference_pool", pool_name_},
                          {"priority", priority_label(key.first)},
                          {"reason", key.second}},
                 static_cast<double>(n));
      break;
    case Family::kQueueDuration:
      for (const auto& [key, h] : waits_) {
        const auto& [flow, priority, outcome, model, target] = key;
        w.histogram(name,
                    LabelSet{{"fairness_id", flow},
                             {"inference_pool", pool_name_},
                             {"model_name", model},
                             {"outcome", outcome_name(outcome)},
                             {"priority", priority_label(priority)},
                             {"target_model_name", target}},
                    h->bounds(), h->read());
      }
      break;
    case Family::kRequests:
      for (const auto& [key, n] : requests_)
        w.sample(name,
                 LabelSet{{"inference_pool", pool_name_},
                          {"outcome", outcome_name(key.first)},
                          {"priority", priority_label(key.second)}},
                 static_cast<double>(n));
      break;
  }
}

}  // namespace infergate::gateway::flowcontrol

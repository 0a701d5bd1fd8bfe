#include "gateway/flowcontrol/flow_timings.hpp"

#include "metrics/prometheus_writer.hpp"

namespace infergate::gateway::flowcontrol {

void FlowTimings::observe_enqueue(std::string_view fairness_id, std::int64_t priority,
                                  std::string_view outcome, std::chrono::nanoseconds took) {
  std::lock_guard lock(mu_);
  auto it = enqueue_.find(KeyView{fairness_id, outcome, priority});
  if (it == enqueue_.end())
    it = enqueue_
             .emplace(Key{std::string(fairness_id), std::string(outcome), priority},
                      std::make_unique<AtomicHistogram>(bounds()))
             .first;
  it->second->observe(took.count());
}

void FlowTimings::render_enqueue(metrics::PrometheusWriter& w, std::string_view name) const {
  std::lock_guard lock(mu_);
  for (const auto& [key, h] : enqueue_) {
    const auto& [fairness_id, outcome, priority] = key;
    // Upstream's label order (Go's client sorts label names).
    w.histogram(name,
                {{"fairness_id", fairness_id},
                 {"outcome", outcome},
                 {"priority", std::to_string(priority)}},
                h->bounds(), h->read());
  }
}

void FlowTimings::render_dispatch_cycles(metrics::PrometheusWriter& w,
                                         std::string_view name) const {
  w.histogram(name, {}, cycles_.bounds(), cycles_.read());
}

}  // namespace infergate::gateway::flowcontrol

// The flow-control timings that upstream reports without a pool label, shared by every pool's
// controller (FlowControl owns them): how long admit() took to decide about a request (the
// enqueue duration: its lock, the saturation measure, the push), by fairness id, priority and
// enqueue outcome; and how long each dispatch cycle over a non-empty queue took. Rendered as
//   inference_extension_flow_control_request_enqueue_duration_seconds{fairness_id, outcome,
//     priority} and ..._dispatch_cycle_duration_seconds{}  (GIE v1.5.0)
//   llm_d_epp_... the same  (llm-d router v0.10.0)
// Measured with std::chrono::steady_clock, not the injected clock: they time the gateway's own
// work, which a manual clock would not see pass.
//
// Thread-safety: every method from any thread (one mutex over the enqueue histograms; the
// histograms are atomic).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "common/histogram.hpp"

namespace infergate::metrics {
class PrometheusWriter;
}

namespace infergate::gateway::flowcontrol {

class FlowTimings {
 public:
  // `outcome`: upstream's, as the enqueue left the request: "Dispatched" (let through at once),
  // "NotYetFinalized" (queued), "RejectedCapacity" (shed).
  void observe_enqueue(std::string_view fairness_id, std::int64_t priority,
                       std::string_view outcome, std::chrono::nanoseconds took);
  void observe_dispatch_cycle(std::chrono::nanoseconds took) { cycles_.observe(took.count()); }

  void render_enqueue(metrics::PrometheusWriter& writer, std::string_view name) const;
  void render_dispatch_cycles(metrics::PrometheusWriter& writer, std::string_view name) const;

 private:
  static std::vector<double> bounds() {
    return {0.0001, 0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1};
  }
  mutable std::mutex mu_;
  // By fairness id, outcome, priority; looked up by views (no copy once a series exists).
  using Key = std::tuple<std::string, std::string, std::int64_t>;
  using KeyView = std::tuple<std::string_view, std::string_view, std::int64_t>;
  struct Less {
    using is_transparent = void;
    static KeyView view(const Key& k) { return {std::get<0>(k), std::get<1>(k), std::get<2>(k)}; }
    static const KeyView& view(const KeyView& k) { return k; }
    template <typename A, typename B>
    bool operator()(const A& a, const B& b) const {
      return view(a) < view(b);
    }
  };
  std::map<Key, std::unique_ptr<AtomicHistogram>, Less> enqueue_;
  AtomicHistogram cycles_{bounds()};
};

}  // namespace infergate::gateway::flowcontrol

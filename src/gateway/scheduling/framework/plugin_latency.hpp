// Latency of every plugin call and of whole scheduling decisions, as Prometheus histograms. One
// histogram each, rendered under three names with their own buckets:
//   inference_extension_scheduler_e2e_duration_seconds, ..._plugin_duration_seconds (GIE v1.5.0)
//   llm_d_epp_scheduler_e2e_duration_seconds, ..._plugin_duration_seconds (llm-d router v0.10.0)
//     upstream's buckets, 100 us to 100 ms;
//   infergate_scheduler_e2e_duration_seconds, infergate_scheduler_plugin_duration_seconds
//     ours, from 1 us: most decisions and plugin calls take a few microseconds.
// The histograms' bounds are the union of both sets, so each name's cumulative counts are exact.
// Process-wide: profiles are rebuilt on reload, their histograms stay.
//
// Thread-safety: observe() is lock-free (atomics); plugin() takes a lock and is meant for
// building profiles; render() may run concurrently with observe().
#pragma once

#include <array>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

#include "common/histogram.hpp"

namespace infergate::metrics {
class PrometheusWriter;
}

namespace infergate::gateway::scheduling {

// Upstream's buckets (both pickers' scheduler_e2e and plugin_duration).
inline constexpr std::array<double, 10> kUpstreamLatencyBounds{0.0001, 0.0002, 0.0005, 0.001, 0.002,
                                                               0.005,  0.01,   0.02,   0.05,  0.1};
// Ours: microsecond-scale.
inline constexpr std::array<double, 12> kOwnLatencyBounds{1e-6, 2.5e-6, 5e-6, 1e-5, 2.5e-5, 5e-5,
                                                          1e-4, 2.5e-4, 5e-4, 1e-3, 1e-2,   1e-1};

// The union of both sets.
std::vector<double> latency_bounds();

// A plugin call or a decision.
class LatencyHistogram : public AtomicHistogram {
 public:
  LatencyHistogram() : AtomicHistogram(latency_bounds()) {}
};

class SchedulerLatency {
 public:
  static SchedulerLatency& instance();
  LatencyHistogram& plugin(const std::string& point, const std::string& type,
                           const std::string& name);
  LatencyHistogram& e2e() { return e2e_; }
  // The six families (each name with its own HELP text and buckets).
  void render(metrics::PrometheusWriter& writer) const;

 private:
  mutable std::mutex mu_;
  std::map<std::tuple<std::string, std::string, std::string>, std::unique_ptr<LatencyHistogram>>
      plugins_;
  LatencyHistogram e2e_;
};

}  // namespace infergate::gateway::scheduling

// Latency of every plugin call and of whole scheduling decisions, as Prometheus histograms
// (inference_extension_scheduler_plugin_duration_seconds and ..._e2e_duration_seconds, the
// upstream names). Process-wide: profiles are rebuilt on reload, their histograms stay.
//
// Thread-safety: observe() is lock-free (atomics); histogram() takes a lock and is meant for
// building profiles; render() may run concurrently with observe().
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>

#include "common/histogram.hpp"

namespace infergate::metrics {
class PrometheusWriter;
}

namespace infergate::gateway::scheduling {

// Microsecond-scale buckets: a plugin call or a decision.
class LatencyHistogram : public AtomicHistogram {
 public:
  LatencyHistogram()
      : AtomicHistogram(
            {1e-6, 2.5e-6, 5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 1e-2, 1e-1}) {}
};

class SchedulerLatency {
 public:
  static SchedulerLatency& instance();
  LatencyHistogram& plugin(const std::string& point, const std::string& type,
                           const std::string& name);
  LatencyHistogram& e2e() { return e2e_; }
  void render(metrics::PrometheusWriter& writer) const;

 private:
  mutable std::mutex mu_;
  std::map<std::tuple<std::string, std::string, std::string>, std::unique_ptr<LatencyHistogram>>
      plugins_;
  LatencyHistogram e2e_;
};

}  // namespace infergate::gateway::scheduling

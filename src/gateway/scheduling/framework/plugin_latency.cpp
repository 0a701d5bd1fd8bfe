#include "gateway/scheduling/framework/plugin_latency.hpp"

#include "metrics/prometheus_writer.hpp"

namespace infergate::gateway::scheduling {

SchedulerLatency& SchedulerLatency::instance() {
  static SchedulerLatency latency;
  return latency;
}

LatencyHistogram& SchedulerLatency::plugin(const std::string& point, const std::string& type,
                                           const std::string& name) {
  std::lock_guard lock(mu_);
  auto& slot = plugins_[{point, type, name}];
  if (!slot) slot = std::make_unique<LatencyHistogram>();
  return *slot;
}

void SchedulerLatency::render(metrics::PrometheusWriter& w) const {
  const auto write = [&](const LatencyHistogram& h, std::string_view name,
                         const metrics::LabelSet& labels) {
    const auto r = h.read();
    w.histogram(name, labels, h.bounds(), r.buckets, r.sum, r.count);
  };
  constexpr std::string_view kE2e = "inference_extension_scheduler_e2e_duration_seconds";
  w.family(kE2e, metrics::MetricType::kHistogram, "Time of one scheduling decision.");
  write(e2e_, kE2e, {});
  constexpr std::string_view kPlugin = "inference_extension_scheduler_plugin_duration_seconds";
  w.family(kPlugin, metrics::MetricType::kHistogram, "Time of one plugin call.");
  std::lock_guard lock(mu_);
  for (const auto& [key, h] : plugins_) {
    const auto& [point, type, name] = key;
    write(*h, kPlugin, {{"extension_point", point}, {"plugin_type", type}, {"plugin_name", name}});
  }
}

}  // namespace infergate::gateway::scheduling

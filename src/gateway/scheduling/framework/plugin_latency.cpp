#include "gateway/scheduling/framework/plugin_latency.hpp"

#include <algorithm>
#include <iterator>
#include <span>
#include <string_view>

#include "metrics/prometheus_writer.hpp"

namespace infergate::gateway::scheduling {
namespace {

constexpr std::string_view kE2eHelp =
    "[ALPHA] End-to-end scheduling latency distribution in seconds.";
constexpr std::string_view kPluginHelp =
    "[ALPHA] Plugin processing latency distribution in seconds for each extension point, plugin "
    "type and plugin name.";

struct Name {
  std::string_view name;
  std::string_view help;
  std::span<const double> bounds;
};

}  // namespace

std::vector<double> latency_bounds() {
  std::vector<double> out;
  std::set_union(kOwnLatencyBounds.begin(), kOwnLatencyBounds.end(), kUpstreamLatencyBounds.begin(),
                 kUpstreamLatencyBounds.end(), std::back_inserter(out));
  return out;
}

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
  const auto write = [&](const Name& n, const LatencyHistogram& h,
                         const metrics::LabelSet& labels) {
    w.histogram(n.name, labels, n.bounds, fold_onto(h.read(), h.bounds(), n.bounds));
  };
  const Name e2e[] = {
      {"inference_extension_scheduler_e2e_duration_seconds", kE2eHelp, kUpstreamLatencyBounds},
      {"llm_d_epp_scheduler_e2e_duration_seconds", kE2eHelp, kUpstreamLatencyBounds},
      {"infergate_scheduler_e2e_duration_seconds",
       "Time of one scheduling decision (microsecond buckets).", kOwnLatencyBounds}};
  for (const Name& n : e2e) {
    w.family(n.name, metrics::MetricType::kHistogram, n.help);
    write(n, e2e_, {});
  }
  const Name plugin[] = {
      {"inference_extension_plugin_duration_seconds", kPluginHelp, kUpstreamLatencyBounds},
      {"llm_d_epp_plugin_duration_seconds", kPluginHelp, kUpstreamLatencyBounds},
      {"infergate_scheduler_plugin_duration_seconds",
       "Time of one plugin call (microsecond buckets).", kOwnLatencyBounds}};
  std::lock_guard lock(mu_);
  for (const Name& n : plugin) {
    w.family(n.name, metrics::MetricType::kHistogram, n.help);
    for (const auto& [key, h] : plugins_) {
      const auto& [point, type, name] = key;
      // Upstream's label order (Go's client sorts label names).
      write(n, *h, {{"extension_point", point}, {"plugin_name", name}, {"plugin_type", type}});
    }
  }
}

}  // namespace infergate::gateway::scheduling

#include "gateway/scheduling/framework/plugin_latency.hpp"

namespace infergate::gateway::scheduling {

void LatencyHistogram::observe(std::int64_t ns) {
  const double seconds = static_cast<double>(ns) * 1e-9;
  std::size_t i = 0;
  while (i < kBounds.size() && seconds > kBounds[i]) ++i;
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  sum_ns_.fetch_add(static_cast<std::uint64_t>(ns > 0 ? ns : 0), std::memory_order_relaxed);
}

void LatencyHistogram::render(std::string& out, const std::string& name, const std::string& labels) const {
  const std::string sep = labels.empty() ? "" : ",";
  std::uint64_t cumulative = 0;
  char bound[32];
  for (std::size_t i = 0; i <= kBounds.size(); ++i) {
    cumulative += buckets_[i].load(std::memory_order_relaxed);
    if (i < kBounds.size()) std::snprintf(bound, sizeof bound, "%g", kBounds[i]);
    out += name + "_bucket{" + labels + sep + "le=\"" + (i < kBounds.size() ? bound : "+Inf") + "\"} " +
           std::to_string(cumulative) + "\n";
  }
  std::snprintf(bound, sizeof bound, "%.9f", static_cast<double>(sum_ns_.load(std::memory_order_relaxed)) * 1e-9);
  out += name + "_sum" + (labels.empty() ? "" : "{" + labels + "}") + " " + bound + "\n";
  out += name + "_count" + (labels.empty() ? "" : "{" + labels + "}") + " " +
         std::to_string(count_.load(std::memory_order_relaxed)) + "\n";
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

void SchedulerLatency::render(std::string& out) const {
  out += "# HELP inference_extension_scheduler_e2e_duration_seconds Time of one scheduling decision.\n";
  out += "# TYPE inference_extension_scheduler_e2e_duration_seconds histogram\n";
  e2e_.render(out, "inference_extension_scheduler_e2e_duration_seconds", "");
  out += "# HELP inference_extension_scheduler_plugin_duration_seconds Time of one plugin call.\n";
  out += "# TYPE inference_extension_scheduler_plugin_duration_seconds histogram\n";
  std::lock_guard lock(mu_);
  for (const auto& [key, h] : plugins_) {
    const auto& [point, type, name] = key;
    h->render(out, "inference_extension_scheduler_plugin_duration_seconds",
              "extension_point=\"" + point + "\",plugin_type=\"" + type + "\",plugin_name=\"" + name + "\"");
  }
}

}  // namespace infergate::gateway::scheduling

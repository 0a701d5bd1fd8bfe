#include "gateway/scheduling/framework/plugin_latency.hpp"

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

void SchedulerLatency::render(std::string& out) const {
  out +=
      "# HELP inference_extension_scheduler_e2e_duration_seconds Time of one scheduling "
      "decision.\n";
  out += "# TYPE inference_extension_scheduler_e2e_duration_seconds histogram\n";
  e2e_.render(out, "inference_extension_scheduler_e2e_duration_seconds", "");
  out += "# HELP inference_extension_scheduler_plugin_duration_seconds Time of one plugin call.\n";
  out += "# TYPE inference_extension_scheduler_plugin_duration_seconds histogram\n";
  std::lock_guard lock(mu_);
  for (const auto& [key, h] : plugins_) {
    const auto& [point, type, name] = key;
    h->render(out, "inference_extension_scheduler_plugin_duration_seconds",
              "extension_point=\"" + point + "\",plugin_type=\"" + type + "\",plugin_name=\"" +
                  name + "\"");
  }
}

}  // namespace infergate::gateway::scheduling

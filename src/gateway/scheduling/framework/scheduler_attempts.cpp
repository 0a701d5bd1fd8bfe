#include "gateway/scheduling/framework/scheduler_attempts.hpp"

#include <charconv>

#include "gateway/datastore/datastore.hpp"
#include "metrics/prometheus_writer.hpp"

namespace infergate::gateway::scheduling {

SchedulerAttempts& SchedulerAttempts::instance() {
  static SchedulerAttempts attempts;
  return attempts;
}

void SchedulerAttempts::count(std::string_view target_model, std::string_view ns,
                              const Endpoint* chosen) {
  char port[8] = {};
  std::string_view name, port_text, where;
  if (chosen) {
    name = chosen->spec.name;
    where = ns;
    const auto end = std::to_chars(port, port + sizeof port, chosen->spec.port).ptr;
    port_text = std::string_view(port, static_cast<std::size_t>(end - port));
  }
  const std::string_view status = chosen ? "success" : "failure";
  std::lock_guard lock(mu_);
  if (!targets_.contains(target_model)) {
    if (targets_.size() < kMaxTargetModels)
      targets_.emplace(target_model);
    else
      target_model = "other";
  }
  const KeyView key{status, target_model, name, where, port_text};
  if (auto it = counts_.find(key); it != counts_.end()) {
    ++it->second;
    return;
  }
  counts_.emplace(Key{status, target_model, name, where, port_text}, 1);
}

void SchedulerAttempts::render(metrics::PrometheusWriter& w) const {
  struct Family {
    std::string_view name;
    std::string_view endpoint_label;  // upstream's name for the endpoint's name
  };
  // The labels in the order Go's client writes them (sorted by name).
  const Family families[] = {{"inference_extension_scheduler_attempts_total", "pod_name"},
                             {"llm_d_epp_scheduler_attempts_total", "endpoint_name"}};
  std::lock_guard lock(mu_);
  for (const Family& f : families) {
    w.family(f.name, metrics::MetricType::kCounter, "[ALPHA] Total number of scheduling attempts.");
    for (const auto& [key, n] : counts_) {
      const auto& [status, target, name, ns, port] = key;
      metrics::LabelSet labels;
      if (f.endpoint_label == "endpoint_name") labels.add("endpoint_name", name);
      labels.add("namespace", ns);
      if (f.endpoint_label == "pod_name") labels.add("pod_name", name);
      labels.add("port", port).add("status", status).add("target_model_name", target);
      w.sample(f.name, labels, static_cast<double>(n));
    }
  }
}

}  // namespace infergate::gateway::scheduling

#include "gateway/scheduling/framework/scheduler_attempts.hpp"

#include <charconv>
#include <unordered_map>

#include "gateway/datastore/datastore.hpp"
#include "metrics/prometheus_writer.hpp"

namespace infergate::gateway::scheduling {

SchedulerAttempts& SchedulerAttempts::instance() {
  static SchedulerAttempts attempts;
  return attempts;
}

std::uint64_t SchedulerAttempts::next_instance() {
  static std::atomic<std::uint64_t> last{0};
  return ++last;
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
  // This thread's counters, by their labels joined (a bounded cache: cleared when full).
  constexpr std::size_t kMaxKept = 4096;
  thread_local std::uint64_t kept_for = 0;
  thread_local std::unordered_map<std::string, Counter*> kept;
  thread_local std::string joined;
  if (kept_for != instance_ || kept.size() >= kMaxKept) {
    kept.clear();
    kept_for = instance_;
  }
  joined.clear();
  for (const std::string_view part : {status, target_model, name, where, port_text}) {
    joined += part;
    joined += '\0';
  }
  auto it = kept.find(joined);
  if (it == kept.end())
    it = kept.emplace(joined, &counter({status, target_model, name, where, port_text})).first;
  it->second->fetch_add(1, std::memory_order_relaxed);
}

SchedulerAttempts::Counter& SchedulerAttempts::counter(const KeyView& labels) {
  KeyView key = labels;
  std::lock_guard lock(mu_);
  const std::string_view target_model = std::get<1>(key);
  if (!targets_.contains(target_model)) {
    if (targets_.size() < kMaxTargetModels)
      targets_.emplace(target_model);
    else
      std::get<1>(key) = "other";
  }
  auto it = counts_.find(key);
  if (it == counts_.end()) {
    const auto& [status, target, name, where, port] = key;
    it = counts_.emplace(Key{status, target, name, where, port}, 0).first;
  }
  return it->second;
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
      w.sample(f.name, labels, static_cast<double>(n.load(std::memory_order_relaxed)));
    }
  }
}

}  // namespace infergate::gateway::scheduling

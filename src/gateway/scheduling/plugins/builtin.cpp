#include "gateway/scheduling/plugins/builtin.hpp"

namespace infergate::gateway::scheduling {

void register_builtin_plugins(PluginRegistry& r) {
  register_low_queue_filter(r);
  register_least_queue_filter(r);
  register_least_kv_cache_filter(r);
  register_lora_affinity_filter(r);
  register_decision_tree_filter(r);

  register_queue_scorer(r);
  register_kv_cache_utilization_scorer(r);
  register_running_requests_scorer(r);
  register_token_load_scorer(r);
  register_lora_affinity_scorer(r);
  register_prefix_cache_scorer(r);

  register_max_score_picker(r);
  register_random_picker(r);
  register_weighted_random_picker(r);
  register_round_robin_picker(r);
  register_cache_aware_picker(r);

  // Accepted so upstream configurations load; they have nothing to do here.
  for (const char* type : {"single-profile-handler", "openai-parser"})
    r.add(type, [](Parameters&, const PluginLookup&) { return std::make_shared<NoopPlugin>(); });
}

}  // namespace infergate::gateway::scheduling

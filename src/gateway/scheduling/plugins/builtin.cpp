#include "gateway/scheduling/plugins/builtin.hpp"

namespace infergate::gateway::scheduling {

void register_builtin_plugins(PluginRegistry& r) {
  register_queue_filters(r);
  register_lora_affinity_filter(r);
  register_decision_tree_filter(r);
  register_load_scorers(r);
  register_lora_affinity_scorer(r);
  register_prefix_cache_scorer(r);
  register_basic_pickers(r);
  register_cache_aware_picker(r);
  // Accepted so upstream configurations load; they have nothing to do here.
  for (const char* type : {"single-profile-handler", "openai-parser"})
    r.add(type, [](Parameters&, const PluginLookup&) { return std::make_shared<NoopPlugin>(); });
}

}  // namespace infergate::gateway::scheduling

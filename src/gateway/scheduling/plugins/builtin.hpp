// The built-in scheduling plugins: one plugin type per file, named for the type, under
// filter/, scorer/ and picker/ (as upstream's endpoint picker lays out
// plugins/<kind>/<name>). Type names follow upstream where it has the plugin. Each file
// defines its plugin in an anonymous namespace and exports only its register_* function;
// register_builtin_plugins() calls them all, so a static link keeps every plugin.
//
// Helpers shared by several plugins: lora_fit.hpp (where an adapter stands on an endpoint),
// filter/lowest_band.hpp, scorer/lower_is_better.hpp, picker/picker_factory.hpp.
#pragma once

#include "gateway/scheduling/framework/registry.hpp"

namespace infergate::gateway::scheduling {

void register_builtin_plugins(PluginRegistry& registry);

// filter/
void register_low_queue_filter(PluginRegistry& registry);
void register_least_queue_filter(PluginRegistry& registry);
void register_least_kv_cache_filter(PluginRegistry& registry);
void register_lora_affinity_filter(PluginRegistry& registry);
void register_decision_tree_filter(PluginRegistry& registry);

// scorer/
void register_queue_scorer(PluginRegistry& registry);
void register_kv_cache_utilization_scorer(PluginRegistry& registry);  // and kv-cache-scorer
void register_running_requests_scorer(PluginRegistry& registry);
void register_token_load_scorer(PluginRegistry& registry);
void register_lora_affinity_scorer(PluginRegistry& registry);
void register_prefix_cache_scorer(PluginRegistry& registry);

// picker/
void register_max_score_picker(PluginRegistry& registry);
void register_random_picker(PluginRegistry& registry);
void register_weighted_random_picker(PluginRegistry& registry);
void register_round_robin_picker(PluginRegistry& registry);
void register_cache_aware_picker(PluginRegistry& registry);

}  // namespace infergate::gateway::scheduling

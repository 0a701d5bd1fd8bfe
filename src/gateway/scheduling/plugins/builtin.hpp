// The built-in scheduling plugins, one file each under filter/, scorer/ and picker/. Type
// names follow upstream's endpoint picker where it has the plugin.
#pragma once

#include "gateway/scheduling/framework/registry.hpp"

namespace infergate::gateway::scheduling {

void register_builtin_plugins(PluginRegistry& registry);

void register_queue_filters(PluginRegistry& registry);  // low-queue, least-queue, least-kv-cache
void register_lora_affinity_filter(PluginRegistry& registry);
void register_decision_tree_filter(PluginRegistry& registry);
void register_load_scorers(
    PluginRegistry& registry);  // queue, kv-cache-utilization, running-requests, token-load
void register_lora_affinity_scorer(PluginRegistry& registry);
void register_prefix_cache_scorer(PluginRegistry& registry);
void register_basic_pickers(
    PluginRegistry& registry);  // max-score, random, weighted-random, round-robin
void register_cache_aware_picker(PluginRegistry& registry);

}  // namespace infergate::gateway::scheduling

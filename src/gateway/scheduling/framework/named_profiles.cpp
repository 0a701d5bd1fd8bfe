#include "gateway/scheduling/framework/named_profiles.hpp"

#include <map>

#include "config/load_resources.hpp"

namespace infergate::gateway::scheduling {
namespace {

const std::map<std::string, std::string>& texts() {
  static const std::map<std::string, std::string> t = {
      {"round-robin", R"(
plugins: [{type: round-robin-picker}]
schedulingProfiles: [{name: round-robin, plugins: [{pluginRef: round-robin-picker}]}]
)"},
      {"random", R"(
plugins: [{type: random-picker}]
schedulingProfiles: [{name: random, plugins: [{pluginRef: random-picker}]}]
)"},
      {"least-request", R"(
plugins: [{type: running-requests-scorer}, {type: max-score-picker}]
schedulingProfiles:
- name: least-request
  plugins: [{pluginRef: running-requests-scorer}, {pluginRef: max-score-picker}]
)"},
      {"gie-default", R"(
plugins: [{type: queue-scorer}, {type: kv-cache-utilization-scorer}, {type: prefix-cache-scorer}, {type: max-score-picker}]
schedulingProfiles:
- name: gie-default
  plugins:
  - {pluginRef: queue-scorer, weight: 2}
  - {pluginRef: kv-cache-utilization-scorer, weight: 2}
  - {pluginRef: prefix-cache-scorer, weight: 3}
  - {pluginRef: max-score-picker}
)"},
      {"sglang-cache-aware", R"(
plugins: [{type: cache-aware-picker}]
schedulingProfiles: [{name: sglang-cache-aware, plugins: [{pluginRef: cache-aware-picker}]}]
)"},
      {"default", R"(
plugins:
- {type: queue-scorer}
- {type: kv-cache-utilization-scorer}
- {type: prefix-cache-scorer}
- {type: lora-affinity-scorer}
- {type: running-requests-scorer}
- {type: max-score-picker}
schedulingProfiles:
- name: default
  plugins:
  - {pluginRef: queue-scorer, weight: 2}
  - {pluginRef: kv-cache-utilization-scorer, weight: 2}
  - {pluginRef: prefix-cache-scorer, weight: 3}
  - {pluginRef: lora-affinity-scorer, weight: 1}
  - {pluginRef: running-requests-scorer, weight: 1}
  - {pluginRef: max-score-picker}
)"},
  };
  return t;
}

}  // namespace

const std::vector<std::string>& named_profile_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> n;
    for (const auto& [name, text] : texts()) n.push_back(name);
    return n;
  }();
  return names;
}

std::optional<config::EndpointPickerConfig> named_profile(const std::string& name) {
  auto it = texts().find(name);
  if (it == texts().end()) return std::nullopt;
  config::LoadResult loaded;
  config::load_text(
      "apiVersion: inference.networking.x-k8s.io/v1alpha1\nkind: EndpointPickerConfig\n" +
          it->second,
      "<ready-made profile " + name + ">", loaded);
  if (!loaded.diagnostics.ok() || loaded.resources.picker_configs.size() != 1) return std::nullopt;
  return std::move(loaded.resources.picker_configs.front());
}

}  // namespace infergate::gateway::scheduling

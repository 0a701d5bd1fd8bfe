// Ready-made profiles that users (annotation infergate.dev/scheduling-profile, flag
// --scheduling-profile) and the benchmarks select by name. Each is an EndpointPickerConfig
// text, built through the same registry as a user's configuration:
//   round-robin         round-robin-picker
//   random              random-picker
//   least-request       running-requests-scorer (the gateway's in-flight counts), max-score
//   gie-default         queue 2, kv-cache-utilization 2, prefix-cache 3, max-score (upstream's)
//   sglang-cache-aware  cache-aware-picker (SGLang's imbalance-threshold rule)
//   default             gie-default plus lora-affinity 1 and running-requests 1
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "config/resources.hpp"

namespace infergate::gateway::scheduling {

const std::vector<std::string>& named_profile_names();
// The EndpointPickerConfig of a ready-made profile (its one profile is called `name`).
std::optional<config::EndpointPickerConfig> named_profile(const std::string& name);

}  // namespace infergate::gateway::scheduling

// Where a request's adapter stands on an endpoint, from vLLM's lora_requests_info; shared by
// lora-affinity-filter and lora-affinity-scorer.
#pragma once

#include <algorithm>
#include <string>
#include <vector>

#include "gateway/scheduling/framework/cycle_state.hpp"

namespace infergate::gateway::scheduling {

enum class LoraFit { kRunning, kFreeSlot, kWaiting, kFull, kUnknown };

inline LoraFit lora_fit(const Candidate& c, const std::string& model) {
  if (!c.lora) return LoraFit::kUnknown;
  const auto has = [&](const std::vector<std::string>& v) {
    return std::find(v.begin(), v.end(), model) != v.end();
  };
  if (has(c.lora->running)) return LoraFit::kRunning;
  if (static_cast<int>(c.lora->running.size() + c.lora->waiting.size()) < c.lora->max_lora)
    return LoraFit::kFreeSlot;
  if (has(c.lora->waiting)) return LoraFit::kWaiting;
  return LoraFit::kFull;
}

}  // namespace infergate::gateway::scheduling

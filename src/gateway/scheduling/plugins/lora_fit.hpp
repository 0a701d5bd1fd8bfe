// Where a request's adapter stands on an endpoint, from vLLM's lora_requests_info; shared by
// lora-affinity-filter and lora-affinity-scorer.
#pragma once

#include <algorithm>
#include <string>
#include <vector>

#include "gateway/scheduling/framework/cycle_state.hpp"

namespace infergate::gateway::scheduling {

enum class LoraFit { kRunning, kFreeSlot, kWaiting, kFull, kUnknown };

// `lora`: a candidate's adapters (Candidates::lora; null: none reported).
inline LoraFit lora_fit(const metrics::LoraInfo* lora, const std::string& model) {
  if (!lora) return LoraFit::kUnknown;
  const auto has = [&](const std::vector<std::string>& v) {
    return std::find(v.begin(), v.end(), model) != v.end();
  };
  if (has(lora->running)) return LoraFit::kRunning;
  if (static_cast<int>(lora->running.size() + lora->waiting.size()) < lora->max_lora)
    return LoraFit::kFreeSlot;
  if (has(lora->waiting)) return LoraFit::kWaiting;
  return LoraFit::kFull;
}

// Whether the request's model runs or waits on some endpoint of the decision's view (true when
// there is no view: each candidate is then looked at).
inline bool adapter_anywhere(const CycleState& state) {
  return !state.view || state.view->has_adapter(state.request.target_model);
}

// lora_fit of candidate i; `anywhere` from adapter_anywhere: when false, only the candidate's
// free slots matter, read from its column instead of its adapter lists.
inline LoraFit lora_fit(const Candidates& c, std::size_t i, const std::string& model,
                        bool anywhere) {
  if (!c.lora[i]) return LoraFit::kUnknown;
  if (!anywhere) return c.lora_room[i] ? LoraFit::kFreeSlot : LoraFit::kFull;
  return lora_fit(c.lora[i], model);
}

}  // namespace infergate::gateway::scheduling

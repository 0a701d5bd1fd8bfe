// lora-affinity-filter: with probability `threshold` (default 0.999) keeps the endpoints where
// the request's adapter is already loaded (running or waiting), if any; otherwise those with a
// free adapter slot; falls back to the other group when the chosen one is empty. The small
// remaining probability spreads an adapter to more endpoints over time (upstream's rule).
#include "gateway/scheduling/plugins/builtin.hpp"
#include "gateway/scheduling/plugins/lora_fit.hpp"

namespace infergate::gateway::scheduling {
namespace {

class LoraAffinityFilter final : public Filter {
 public:
  explicit LoraAffinityFilter(double threshold) : threshold_(threshold) {}
  void filter(CycleState& state, Candidates& c) override {
    thread_local std::vector<std::uint8_t> affine, available;
    affine.assign(c.size(), 0);
    available.assign(c.size(), 0);
    bool any_affine = false, any_available = false;
    const bool anywhere = adapter_anywhere(state);
    for (std::size_t i = 0; i < c.size(); ++i) {
      const LoraFit fit = lora_fit(c, i, state.request.target_model, anywhere);
      if (fit == LoraFit::kRunning || fit == LoraFit::kWaiting) {
        affine[i] = 1;
        any_affine = true;
      } else if (fit == LoraFit::kFreeSlot || fit == LoraFit::kUnknown) {
        available[i] = 1;
        any_available = true;
      }
    }
    const bool prefer_affine = state.random.unit() < threshold_;
    // Affine endpoints when drawn or when nothing else fits; otherwise those with room (none
    // may fit at all: then no candidate is left).
    if (any_affine && (prefer_affine || !any_available))
      c.retain(affine);
    else
      c.retain(available);
  }

 private:
  double threshold_;
};

}  // namespace

void register_lora_affinity_filter(PluginRegistry& r) {
  r.add("lora-affinity-filter", [](Parameters& p, const PluginLookup&) {
    return std::make_shared<LoraAffinityFilter>(p.number("threshold", 0.999, 0, 1));
  });
}

}  // namespace infergate::gateway::scheduling

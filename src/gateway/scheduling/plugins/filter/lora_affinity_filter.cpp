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
  void filter(CycleState& state, std::vector<Candidate*>& c) override {
    thread_local std::vector<Candidate*> affine, available;
    affine.clear();
    available.clear();
    for (Candidate* x : c) {
      const LoraFit fit = lora_fit(*x, state.request.target_model);
      if (fit == LoraFit::kRunning || fit == LoraFit::kWaiting)
        affine.push_back(x);
      else if (fit == LoraFit::kFreeSlot || fit == LoraFit::kUnknown)
        available.push_back(x);
    }
    const bool prefer_affine = state.random.unit() < threshold_;
    // Affine endpoints when drawn or when nothing else fits; otherwise those with room (none
    // may fit at all: then no candidate is left).
    if (!affine.empty() && (prefer_affine || available.empty()))
      c = affine;
    else
      c = available;
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

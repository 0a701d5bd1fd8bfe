// lora-affinity-scorer: the request's adapter running on the endpoint 1.0; a free adapter slot
// 0.8; the adapter waiting to load 0.6; otherwise 0. An endpoint whose engine reports no adapters
// scores as one with a free slot.
#include "gateway/scheduling/plugins/builtin.hpp"
#include "gateway/scheduling/plugins/lora_fit.hpp"

namespace infergate::gateway::scheduling {
namespace {

class LoraAffinityScorer final : public Scorer {
 public:
  bool bounded() const override { return true; }
  ScoreDepends depends_on() const override { return ScoreDepends::kMetricsAndModel; }
  void score(CycleState& state, Candidates& c, std::span<double> out) override {
    const bool anywhere = adapter_anywhere(state);
    for (std::size_t i = 0; i < c.size(); ++i) {
      switch (lora_fit(c, i, state.request.target_model, anywhere)) {
        case LoraFit::kRunning:
          out[i] = 1.0;
          break;
        case LoraFit::kFreeSlot:
        case LoraFit::kUnknown:
          out[i] = 0.8;
          break;
        case LoraFit::kWaiting:
          out[i] = 0.6;
          break;
        case LoraFit::kFull:
          out[i] = 0.0;
          break;
      }
    }
  }
};

}  // namespace

void register_lora_affinity_scorer(PluginRegistry& r) {
  r.add("lora-affinity-scorer",
        [](Parameters&, const PluginLookup&) { return std::make_shared<LoraAffinityScorer>(); });
}

}  // namespace infergate::gateway::scheduling

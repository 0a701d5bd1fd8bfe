// max-score-picker: the highest total, ties broken uniformly at random. The picker of a
// profile that names none.
#include "gateway/scheduling/plugins/builtin.hpp"
#include "gateway/scheduling/plugins/picker/picker_factory.hpp"

namespace infergate::gateway::scheduling {
namespace {

class MaxScorePicker final : public Picker {
 public:
  std::size_t pick(CycleState& state, Candidates& c, std::span<const double> totals) override {
    std::size_t best = 0, ties = 1;
    for (std::size_t i = 1; i < c.size(); ++i) {
      if (totals[i] > totals[best]) {
        best = i;
        ties = 1;
      } else if (totals[i] == totals[best] && state.random.below(++ties) == 0) {
        best = i;  // reservoir sampling: each tied candidate kept with probability 1/ties
      }
    }
    return best;
  }
};

}  // namespace

void register_max_score_picker(PluginRegistry& r) {
  r.add("max-score-picker", picker_factory<MaxScorePicker>());
}

}  // namespace infergate::gateway::scheduling

// max-score-picker: the highest total, ties broken uniformly at random. The picker of a
// profile that names none.
#include "gateway/scheduling/plugins/builtin.hpp"
#include "gateway/scheduling/plugins/picker/picker_factory.hpp"

namespace infergate::gateway::scheduling {
namespace {

class MaxScorePicker final : public Picker {
 public:
  std::size_t pick(CycleState& state, Candidates& c, std::span<const double> totals) override {
    const std::size_t n = c.size();
    const double* __restrict t = totals.data();
    // The highest total, from four running maxima (one would wait on its last compare each
    // step); then the candidates that reach it, one drawn among them when there are several.
    double top[4] = {t[0], t[0], t[0], t[0]};
    std::size_t i = 0;
    for (; i + 4 <= n; i += 4) {
      for (std::size_t k = 0; k < 4; ++k) top[k] = t[i + k] > top[k] ? t[i + k] : top[k];
    }
    for (; i < n; ++i) top[0] = t[i] > top[0] ? t[i] : top[0];
    for (std::size_t k = 1; k < 4; ++k) top[0] = top[k] > top[0] ? top[k] : top[0];
    const double best = top[0];
    std::size_t ties = 0;
    for (std::size_t j = 0; j < n; ++j) ties += t[j] == best ? 1 : 0;
    std::size_t skip = ties > 1 ? state.random.below(ties) : 0;
    for (std::size_t j = 0; j < n; ++j) {
      if (t[j] == best && skip-- == 0) return j;
    }
    return 0;  // no total equals the highest: the first total is NaN
  }
};

}  // namespace

void register_max_score_picker(PluginRegistry& r) {
  r.add("max-score-picker", picker_factory<MaxScorePicker>());
}

}  // namespace infergate::gateway::scheduling

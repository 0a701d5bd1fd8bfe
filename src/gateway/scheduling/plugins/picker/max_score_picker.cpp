// max-score-picker: the highest total, ties broken uniformly at random. The picker of a
// profile that names none.
#include "gateway/scheduling/framework/lanes.hpp"
#include "gateway/scheduling/plugins/builtin.hpp"
#include "gateway/scheduling/plugins/picker/picker_factory.hpp"

namespace infergate::gateway::scheduling {
namespace {

class MaxScorePicker final : public Picker {
 public:
  bool reads_metrics() const override { return false; }
  std::size_t pick(CycleState& state, Candidates& c, std::span<const double> totals) override {
    const std::size_t n = c.size();
    const double* __restrict t = totals.data();
    // The highest total, then the candidates that reach it, one drawn among them when there
    // are several.
    const double best = lanes::highest(t, n);
    const std::size_t ties = lanes::count_equal(t, n, best);
    const std::size_t at = lanes::nth_equal(t, n, best, ties > 1 ? state.random.below(ties) : 0);
    return at < n ? at : 0;  // none equals the highest: the first total is NaN
  }
};

}  // namespace

void register_max_score_picker(PluginRegistry& r) {
  r.add("max-score-picker", picker_factory<MaxScorePicker>());
}

}  // namespace infergate::gateway::scheduling

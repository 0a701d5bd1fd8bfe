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
    // The highest total, the first candidate that reaches it, and the others after it: one
    // drawn among them all when there are several (the same draw as counting them all first).
    const double best = lanes::highest(t, n);
    const std::size_t first = lanes::nth_equal(t, n, best, 0);
    if (first >= n) return 0;  // none equals the highest: the first total is NaN
    const double* const after = t + first + 1;
    const std::size_t rest = n - first - 1;
    const std::size_t others = lanes::count_equal(after, rest, best);
    if (others == 0) return first;
    const std::size_t k = state.random.below(others + 1);
    return k == 0 ? first : first + 1 + lanes::nth_equal(after, rest, best, k - 1);
  }
};

}  // namespace

void register_max_score_picker(PluginRegistry& r) {
  r.add("max-score-picker", picker_factory<MaxScorePicker>());
}

}  // namespace infergate::gateway::scheduling

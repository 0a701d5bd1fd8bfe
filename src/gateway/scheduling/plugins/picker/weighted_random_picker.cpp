// weighted-random-picker: probability proportional to the total score (negative totals count
// as 0; uniform when all are 0).
#include "gateway/scheduling/plugins/builtin.hpp"
#include "gateway/scheduling/plugins/picker/picker_factory.hpp"

namespace infergate::gateway::scheduling {
namespace {

class WeightedRandomPicker final : public Picker {
 public:
  bool reads_metrics() const override { return false; }
  std::size_t pick(CycleState& state, Candidates& c, std::span<const double> totals) override {
    double sum = 0;
    for (double t : totals) sum += t > 0 ? t : 0;
    if (sum <= 0) return state.random.below(c.size());
    double x = state.random.unit() * sum;
    for (std::size_t i = 0; i < c.size(); ++i) {
      const double t = totals[i] > 0 ? totals[i] : 0;
      if (x < t) return i;
      x -= t;
    }
    for (std::size_t i = c.size(); i-- > 0;)
      if (totals[i] > 0) return i;  // rounding left x just above the last positive weight
    return c.size() - 1;
  }
};

}  // namespace

void register_weighted_random_picker(PluginRegistry& r) {
  r.add("weighted-random-picker", picker_factory<WeightedRandomPicker>());
}

}  // namespace infergate::gateway::scheduling

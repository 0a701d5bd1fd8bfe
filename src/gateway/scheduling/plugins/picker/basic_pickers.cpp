// max-score-picker: the highest total, ties broken uniformly at random.
// random-picker: uniform over the candidates, scores ignored.
// weighted-random-picker: probability proportional to the total score (uniform when all are 0).
// round-robin-picker: the candidates in turn.
// `maxNumOfEndpoints` (upstream, for fallbacks) is accepted and must be 1.
#include <atomic>

#include "gateway/scheduling/plugins/builtin.hpp"

namespace infergate::gateway::scheduling {
namespace {

class MaxScorePicker final : public Picker {
 public:
  Candidate* pick(CycleState& state, std::span<Candidate* const> c,
                  std::span<const double> totals) override {
    std::size_t best = 0, ties = 1;
    for (std::size_t i = 1; i < c.size(); ++i) {
      if (totals[i] > totals[best]) {
        best = i;
        ties = 1;
      } else if (totals[i] == totals[best] && state.random.below(++ties) == 0) {
        best = i;  // reservoir sampling: each tied candidate kept with probability 1/ties
      }
    }
    return c[best];
  }
};

class RandomPicker final : public Picker {
 public:
  Candidate* pick(CycleState& state, std::span<Candidate* const> c,
                  std::span<const double>) override {
    return c[state.random.below(c.size())];
  }
};

class WeightedRandomPicker final : public Picker {
 public:
  Candidate* pick(CycleState& state, std::span<Candidate* const> c,
                  std::span<const double> totals) override {
    double sum = 0;
    for (double t : totals) sum += t > 0 ? t : 0;
    if (sum <= 0) return c[state.random.below(c.size())];
    double x = state.random.unit() * sum;
    for (std::size_t i = 0; i < c.size(); ++i) {
      const double t = totals[i] > 0 ? totals[i] : 0;
      if (x < t) return c[i];
      x -= t;
    }
    for (std::size_t i = c.size(); i-- > 0;)
      if (totals[i] > 0) return c[i];  // rounding left x just above the last positive weight
    return c.back();
  }
};

class RoundRobinPicker final : public Picker {
 public:
  Candidate* pick(CycleState&, std::span<Candidate* const> c, std::span<const double>) override {
    return c[next_.fetch_add(1, std::memory_order_relaxed) % c.size()];
  }

 private:
  std::atomic<std::uint64_t> next_{0};
};

template <typename P>
PluginFactory picker_factory() {
  return [](Parameters& p, const PluginLookup&) -> std::shared_ptr<Plugin> {
    p.integer("maxNumOfEndpoints", 1, 1, 1);
    return std::make_shared<P>();
  };
}

}  // namespace

void register_basic_pickers(PluginRegistry& r) {
  r.add("max-score-picker", picker_factory<MaxScorePicker>());
  r.add("random-picker", picker_factory<RandomPicker>());
  r.add("weighted-random-picker", picker_factory<WeightedRandomPicker>());
  r.add("round-robin-picker", picker_factory<RoundRobinPicker>());
}

}  // namespace infergate::gateway::scheduling

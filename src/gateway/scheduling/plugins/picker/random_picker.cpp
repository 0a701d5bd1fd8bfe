// random-picker: uniform over the candidates, scores ignored.
#include "gateway/scheduling/plugins/builtin.hpp"
#include "gateway/scheduling/plugins/picker/picker_factory.hpp"

namespace infergate::gateway::scheduling {
namespace {

class RandomPicker final : public Picker {
 public:
  bool reads_metrics() const override { return false; }
  std::size_t pick(CycleState& state, Candidates& c, std::span<const double>) override {
    return state.random.below(c.size());
  }
};

}  // namespace

void register_random_picker(PluginRegistry& r) {
  r.add("random-picker", picker_factory<RandomPicker>());
}

}  // namespace infergate::gateway::scheduling

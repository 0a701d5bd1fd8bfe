// round-robin-picker: the candidates in turn, scores ignored. One position per plugin
// instance, shared by every worker thread (an atomic).
#include <atomic>
#include <cstdint>

#include "gateway/scheduling/plugins/builtin.hpp"
#include "gateway/scheduling/plugins/picker/picker_factory.hpp"

namespace infergate::gateway::scheduling {
namespace {

class RoundRobinPicker final : public Picker {
 public:
  bool reads_metrics() const override { return false; }
  std::size_t pick(CycleState&, Candidates& c, std::span<const double>) override {
    return next_.fetch_add(1, std::memory_order_relaxed) % c.size();
  }

 private:
  std::atomic<std::uint64_t> next_{0};
};

}  // namespace

void register_round_robin_picker(PluginRegistry& r) {
  r.add("round-robin-picker", picker_factory<RoundRobinPicker>());
}

}  // namespace infergate::gateway::scheduling

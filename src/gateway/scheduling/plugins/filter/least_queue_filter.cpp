// least-queue-filter: endpoints in the lowest band of engine queue length (lowest_band.hpp;
// upstream's legacy filter).
#include "gateway/scheduling/plugins/builtin.hpp"
#include "gateway/scheduling/plugins/filter/lowest_band.hpp"

namespace infergate::gateway::scheduling {
namespace {

class LeastQueueFilter final : public Filter {
 public:
  void filter(CycleState&, Candidates& c) override { keep_lowest_band(c, &Candidates::waiting); }
};

}  // namespace

void register_least_queue_filter(PluginRegistry& r) {
  r.add("least-queue-filter",
        [](Parameters&, const PluginLookup&) { return std::make_shared<LeastQueueFilter>(); });
}

}  // namespace infergate::gateway::scheduling

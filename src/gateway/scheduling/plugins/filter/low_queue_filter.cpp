// low-queue-filter: endpoints whose engine queue is at most `threshold` (default 128).
#include <vector>

#include "gateway/scheduling/plugins/builtin.hpp"

namespace infergate::gateway::scheduling {
namespace {

class LowQueueFilter final : public Filter {
 public:
  explicit LowQueueFilter(double threshold) : threshold_(threshold) {}
  void filter(CycleState&, Candidates& c) override {
    c.retain_if([&](std::size_t i) { return c.waiting[i] <= threshold_; });
  }

 private:
  double threshold_;
};

}  // namespace

void register_low_queue_filter(PluginRegistry& r) {
  r.add("low-queue-filter", [](Parameters& p, const PluginLookup&) {
    return std::make_shared<LowQueueFilter>(p.number("threshold", 128, 0, 1e9));
  });
}

}  // namespace infergate::gateway::scheduling

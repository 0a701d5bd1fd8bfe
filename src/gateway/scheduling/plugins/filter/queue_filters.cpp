// low-queue-filter: endpoints whose engine queue is at most `threshold` (default 128).
// least-queue-filter / least-kv-cache-filter: endpoints in the lowest band of queue length /
// KV-cache use, the band being [min, min + (max - min) / n] over the n candidates (upstream's
// legacy filters).
#include <algorithm>

#include "gateway/scheduling/plugins/builtin.hpp"

namespace infergate::gateway::scheduling {
namespace {

class LowQueueFilter final : public Filter {
 public:
  explicit LowQueueFilter(double threshold) : threshold_(threshold) {}
  void filter(CycleState&, std::vector<Candidate*>& c) override {
    std::erase_if(c, [&](const Candidate* x) { return x->waiting > threshold_; });
  }

 private:
  double threshold_;
};

template <double Candidate::*Field>
class LowestBandFilter final : public Filter {
 public:
  void filter(CycleState&, std::vector<Candidate*>& c) override {
    if (c.empty()) return;
    double lo = c.front()->*Field, hi = lo;
    for (const Candidate* x : c) {
      lo = std::min(lo, x->*Field);
      hi = std::max(hi, x->*Field);
    }
    const double limit = lo + (hi - lo) / static_cast<double>(c.size());
    std::erase_if(c, [&](const Candidate* x) { return x->*Field > limit; });
  }
};

}  // namespace

void register_queue_filters(PluginRegistry& r) {
  r.add("low-queue-filter", [](Parameters& p, const PluginLookup&) {
    return std::make_shared<LowQueueFilter>(p.number("threshold", 128, 0, 1e9));
  });
  r.add("least-queue-filter", [](Parameters&, const PluginLookup&) {
    return std::make_shared<LowestBandFilter<&Candidate::waiting>>();
  });
  r.add("least-kv-cache-filter", [](Parameters&, const PluginLookup&) {
    return std::make_shared<LowestBandFilter<&Candidate::kv_usage>>();
  });
}

}  // namespace infergate::gateway::scheduling

// kv-cache-utilization-scorer (alias kv-cache-scorer, the older name): 1 - KV-cache use.
#include "gateway/scheduling/plugins/builtin.hpp"

namespace infergate::gateway::scheduling {
namespace {

class KvCacheUtilizationScorer final : public Scorer {
 public:
  bool bounded() const override { return true; }
  ScoreDepends depends_on() const override { return ScoreDepends::kMetrics; }
  void score(CycleState&, Candidates& c, std::span<double> out) override {
    const double* __restrict kv = c.kv_usage.data();
    double* __restrict o = out.data();
    for (std::size_t i = 0; i < c.size(); ++i) o[i] = 1.0 - kv[i];
  }
};

}  // namespace

void register_kv_cache_utilization_scorer(PluginRegistry& r) {
  r.add("kv-cache-utilization-scorer", [](Parameters&, const PluginLookup&) {
    return std::make_shared<KvCacheUtilizationScorer>();
  });
  r.alias("kv-cache-scorer", "kv-cache-utilization-scorer");
}

}  // namespace infergate::gateway::scheduling

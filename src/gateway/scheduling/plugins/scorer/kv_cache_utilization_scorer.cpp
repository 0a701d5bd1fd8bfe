// kv-cache-utilization-scorer (alias kv-cache-scorer, the older name): 1 - KV-cache use.
#include "gateway/scheduling/plugins/builtin.hpp"

namespace infergate::gateway::scheduling {
namespace {

class KvCacheUtilizationScorer final : public Scorer {
 public:
  void score(CycleState&, std::span<Candidate* const> c, std::span<double> out) override {
    for (std::size_t i = 0; i < c.size(); ++i) out[i] = 1.0 - c[i]->kv_usage;
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

// least-kv-cache-filter: endpoints in the lowest band of KV-cache use (lowest_band.hpp;
// upstream's legacy filter).
#include "gateway/scheduling/plugins/builtin.hpp"
#include "gateway/scheduling/plugins/filter/lowest_band.hpp"

namespace infergate::gateway::scheduling {
namespace {

class LeastKvCacheFilter final : public Filter {
 public:
  void filter(CycleState&, Candidates& c) override { keep_lowest_band(c, &Candidates::kv_usage); }
};

}  // namespace

void register_least_kv_cache_filter(PluginRegistry& r) {
  r.add("least-kv-cache-filter",
        [](Parameters&, const PluginLookup&) { return std::make_shared<LeastKvCacheFilter>(); });
}

}  // namespace infergate::gateway::scheduling

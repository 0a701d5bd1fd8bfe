// cache-aware-picker: SGLang's cache-aware routing rule, over the gateway's own in-flight
// counts. When the load is imbalanced (max - min > balanceAbsThreshold, default 64, and
// max > balanceRelThreshold x min, default 1.5), the least loaded endpoint; otherwise the best
// prefix match if its match rate exceeds cacheThreshold (default 0.3); otherwise the least
// loaded. Scores from the profile's scorers are not used. Prefix parameters as
// prefix-cache-scorer's.
#include <algorithm>

#include "gateway/scheduling/plugins/builtin.hpp"

namespace infergate::gateway::scheduling {
namespace {

struct Rule {
  double abs_threshold = 64;
  double rel_threshold = 1.5;
  double cache_threshold = 0.3;
};

class CacheAwarePicker final : public Picker {
 public:
  CacheAwarePicker(Rule rule, PromptBlockOptions options) : rule_(rule), options_(options) {}
  bool reads_metrics() const override { return false; }
  const PromptBlockOptions* prefix_options() const override { return &options_; }

  std::size_t pick(CycleState& state, Candidates& c, std::span<const double>) override {
    const std::vector<double>& load = c.in_flight;
    std::size_t least = 0;
    double lo = load[0], hi = lo;
    for (std::size_t i = 0; i < c.size(); ++i) {
      if (load[i] < load[least] || (load[i] == load[least] && state.random.below(2) == 0))
        least = i;
      lo = std::min(lo, load[i]);
      hi = std::max(hi, load[i]);
    }
    if (hi - lo > rule_.abs_threshold && hi > rule_.rel_threshold * lo) return least;
    const std::size_t total = state.match_prefix(c, options_);
    if (total == 0) return least;
    const std::vector<std::uint32_t>& matched = c.prefix_matched;
    std::size_t best = 0;
    for (std::size_t i = 1; i < c.size(); ++i) {
      if (matched[i] > matched[best] || (matched[i] == matched[best] && load[i] < load[best]))
        best = i;
    }
    const double rate = static_cast<double>(matched[best]) / static_cast<double>(total);
    return rate > rule_.cache_threshold ? best : least;
  }

 private:
  Rule rule_;
  PromptBlockOptions options_;
};

}  // namespace

void register_cache_aware_picker(PluginRegistry& r) {
  r.add("cache-aware-picker", [](Parameters& p, const PluginLookup&) {
    Rule rule;
    rule.abs_threshold = p.number("balanceAbsThreshold", 64, 0, 1e9);
    rule.rel_threshold = p.number("balanceRelThreshold", 1.5, 1, 1e9);
    rule.cache_threshold = p.number("cacheThreshold", 0.3, 0, 1);
    PromptBlockOptions o;
    o.block_chars = static_cast<std::size_t>(p.integer("blockSizeTokens", 16, 1, 4096) * 4);
    o.max_blocks = static_cast<std::size_t>(p.integer("maxPrefixBlocksToMatch", 256, 1, 8192));
    return std::make_shared<CacheAwarePicker>(rule, o);
  });
}

}  // namespace infergate::gateway::scheduling

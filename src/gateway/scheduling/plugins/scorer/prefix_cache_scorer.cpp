// prefix-cache-scorer: the share of the prompt's leading blocks that the pool's approximate
// prefix index holds for the endpoint, as upstream's prefix-cache-scorer. Parameters:
// blockSizeTokens (tokens of 4 characters, default 16) or hashBlockSize (characters, the older
// spelling), maxPrefixBlocksToMatch (default 256), lruCapacityPerServer (blocks an endpoint keeps
// when its engine does not report its KV-cache size; default 31,250).
#include "gateway/scheduling/plugins/builtin.hpp"

namespace infergate::gateway::scheduling {
namespace {

class PrefixCacheScorer final : public Scorer {
 public:
  bool reads_metrics() const override { return false; }
  bool bounded() const override { return true; }
  explicit PrefixCacheScorer(PromptBlockOptions options) : options_(options) {}
  const PromptBlockOptions* prefix_options() const override { return &options_; }
  void score(CycleState& state, Candidates& c, std::span<double> out) override {
    const std::size_t total = state.match_prefix(c, options_);
    const double per_block = total == 0 ? 0.0 : 1.0 / static_cast<double>(total);
    for (std::size_t i = 0; i < c.size(); ++i)
      out[i] = static_cast<double>(c.prefix_matched[i]) * per_block;
  }

 private:
  PromptBlockOptions options_;
};

}  // namespace

void register_prefix_cache_scorer(PluginRegistry& r) {
  r.add("prefix-cache-scorer", [](Parameters& p, const PluginLookup&) {
    PromptBlockOptions o;
    const auto tokens = p.integer("blockSizeTokens", 16, 1, 4096);
    o.block_chars = static_cast<std::size_t>(p.integer("hashBlockSize", tokens * 4, 1, 16384));
    o.max_blocks = static_cast<std::size_t>(p.integer("maxPrefixBlocksToMatch", 256, 1, 8192));
    p.integer("lruCapacityPerServer", 31250, 1, 100000000);  // the index's default capacity
    return std::make_shared<PrefixCacheScorer>(o);
  });
}

}  // namespace infergate::gateway::scheduling

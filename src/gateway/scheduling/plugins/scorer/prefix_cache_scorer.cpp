// prefix-cache-scorer: the share of the prompt's leading blocks that the pool's approximate
// prefix index holds for the endpoint, as upstream's prefix-cache-scorer. Parameters:
// blockSizeTokens (tokens of 4 characters, default 16) or hashBlockSize (characters, the older
// spelling), maxPrefixBlocksToMatch (default 256), lruCapacityPerServer (blocks an endpoint keeps
// when its engine does not report its KV-cache size; default 31,250).
#include "gateway/scheduling/framework/weighted_sum.hpp"
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
    const double per_block = match(state, c);
    const std::uint32_t* matched = c.prefix_matched.data();
    for (std::size_t i = 0; i < c.size(); ++i) out[i] = blocks(matched[i]) * per_block;
  }
  void add_scores(CycleState& state, Candidates& c, double weight, const double* from,
                  std::span<double> totals, std::span<double>) override {
    const double per_block = match(state, c);
    const std::uint32_t* matched = c.prefix_matched.data();
    add_weighted(from, weight, totals,
                 [=](std::size_t i) { return blocks(matched[i]) * per_block; });
  }

 private:
  // A count of matched blocks (at most maxPrefixBlocksToMatch) as a double, through a signed
  // int: SSE2 converts those two at a time, unsigned ones one by one.
  static double blocks(std::uint32_t matched) {
    return static_cast<double>(static_cast<std::int32_t>(matched));
  }
  // Matches the prompt (once per decision); returns a block's share of the prompt.
  double match(CycleState& state, Candidates& c) const {
    const std::size_t total = state.match_prefix(c, options_);
    return total == 0 ? 0.0 : 1.0 / static_cast<double>(total);
  }

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

// token-load-scorer: 1 - min(1, in-flight tokens / maxTokens) (llm-d's rule; default
// 4,194,304), the gateway's own count of prompt estimate plus expected output.
#include <algorithm>

#include "gateway/scheduling/plugins/builtin.hpp"

namespace infergate::gateway::scheduling {
namespace {

class TokenLoadScorer final : public Scorer {
 public:
  explicit TokenLoadScorer(double max_tokens) : max_tokens_(max_tokens) {}
  void score(CycleState&, Candidates& c, std::span<double> out) override {
    for (std::size_t i = 0; i < c.size(); ++i)
      out[i] = 1.0 - std::min(1.0, c.in_flight_tokens[i] / max_tokens_);
  }

 private:
  double max_tokens_;
};

}  // namespace

void register_token_load_scorer(PluginRegistry& r) {
  r.add("token-load-scorer", [](Parameters& p, const PluginLookup&) {
    return std::make_shared<TokenLoadScorer>(p.number("maxTokens", 4194304, 1, 1e12));
  });
}

}  // namespace infergate::gateway::scheduling

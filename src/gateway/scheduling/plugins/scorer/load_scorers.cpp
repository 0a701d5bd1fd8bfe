// Load scorers.
//   queue-scorer: (maxQ - q) / (maxQ - minQ) over the candidates' engine queues; all equal: 1.
//   kv-cache-utilization-scorer (alias kv-cache-scorer): 1 - KV-cache use.
//   running-requests-scorer: the queue formula over the gateway's own in-flight requests per
//     endpoint, which move at dispatch and completion instead of at the next scrape.
//   token-load-scorer: 1 - min(1, in-flight tokens / maxTokens) (llm-d's rule; default
//     4,194,304), the gateway's own count of prompt estimate plus expected output.
#include <algorithm>

#include "gateway/scheduling/plugins/builtin.hpp"

namespace infergate::gateway::scheduling {
namespace {

// (max - x) / (max - min); all equal: 1.
template <typename Get>
void score_least(std::span<Candidate* const> c, std::span<double> out, Get get) {
  double lo = 0, hi = 0;
  for (std::size_t i = 0; i < c.size(); ++i) {
    const double v = get(*c[i]);
    lo = i == 0 ? v : std::min(lo, v);
    hi = i == 0 ? v : std::max(hi, v);
  }
  for (std::size_t i = 0; i < c.size(); ++i)
    out[i] = hi == lo ? 1.0 : (hi - get(*c[i])) / (hi - lo);
}

class QueueScorer final : public Scorer {
 public:
  void score(CycleState&, std::span<Candidate* const> c, std::span<double> out) override {
    score_least(c, out, [](const Candidate& x) { return x.waiting; });
  }
};

class KvCacheScorer final : public Scorer {
 public:
  void score(CycleState&, std::span<Candidate* const> c, std::span<double> out) override {
    for (std::size_t i = 0; i < c.size(); ++i) out[i] = 1.0 - c[i]->kv_usage;
  }
};

class RunningRequestsScorer final : public Scorer {
 public:
  void score(CycleState&, std::span<Candidate* const> c, std::span<double> out) override {
    score_least(c, out, [](const Candidate& x) { return static_cast<double>(x.in_flight); });
  }
};

class TokenLoadScorer final : public Scorer {
 public:
  explicit TokenLoadScorer(double max_tokens) : max_tokens_(max_tokens) {}
  void score(CycleState&, std::span<Candidate* const> c, std::span<double> out) override {
    for (std::size_t i = 0; i < c.size(); ++i)
      out[i] = 1.0 - std::min(1.0, static_cast<double>(c[i]->in_flight_tokens) / max_tokens_);
  }

 private:
  double max_tokens_;
};

}  // namespace

void register_load_scorers(PluginRegistry& r) {
  r.add("queue-scorer",
        [](Parameters&, const PluginLookup&) { return std::make_shared<QueueScorer>(); });
  r.add("kv-cache-utilization-scorer",
        [](Parameters&, const PluginLookup&) { return std::make_shared<KvCacheScorer>(); });
  r.alias("kv-cache-scorer", "kv-cache-utilization-scorer");
  r.add("running-requests-scorer",
        [](Parameters&, const PluginLookup&) { return std::make_shared<RunningRequestsScorer>(); });
  r.add("token-load-scorer", [](Parameters& p, const PluginLookup&) {
    return std::make_shared<TokenLoadScorer>(p.number("maxTokens", 4194304, 1, 1e12));
  });
}

}  // namespace infergate::gateway::scheduling

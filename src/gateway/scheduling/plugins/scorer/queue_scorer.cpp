// queue-scorer: (maxQ - q) / (maxQ - minQ) over the candidates' engine queues; all equal: 1.
#include "gateway/scheduling/plugins/builtin.hpp"
#include "gateway/scheduling/plugins/scorer/lower_is_better.hpp"

namespace infergate::gateway::scheduling {
namespace {

class QueueScorer final : public Scorer {
 public:
  bool bounded() const override { return true; }
  ScoreDepends depends_on() const override { return ScoreDepends::kMetrics; }
  void score(CycleState&, Candidates& c, std::span<double> out) override {
    score_lower_is_better(c.waiting, out);
  }
  void add_scores(CycleState&, Candidates& c, double weight, const double* from,
                  std::span<double> totals, std::span<double>) override {
    add_lower_is_better(c.waiting, weight, from, totals);
  }
};

}  // namespace

void register_queue_scorer(PluginRegistry& r) {
  r.add("queue-scorer",
        [](Parameters&, const PluginLookup&) { return std::make_shared<QueueScorer>(); });
}

}  // namespace infergate::gateway::scheduling

// running-requests-scorer: queue-scorer's formula over the gateway's own in-flight requests per
// endpoint, which move at dispatch and completion instead of at the next scrape.
#include "gateway/scheduling/plugins/builtin.hpp"
#include "gateway/scheduling/plugins/scorer/lower_is_better.hpp"

namespace infergate::gateway::scheduling {
namespace {

class RunningRequestsScorer final : public Scorer {
 public:
  bool reads_metrics() const override { return false; }
  bool bounded() const override { return true; }
  void score(CycleState&, Candidates& c, std::span<double> out) override {
    score_lower_is_better(c.in_flight, out);
  }
  void add_scores(CycleState&, Candidates& c, double weight, const double* from,
                  std::span<double> totals, std::span<double>) override {
    add_lower_is_better(c.in_flight, weight, from, totals);
  }
};

}  // namespace

void register_running_requests_scorer(PluginRegistry& r) {
  r.add("running-requests-scorer",
        [](Parameters&, const PluginLookup&) { return std::make_shared<RunningRequestsScorer>(); });
}

}  // namespace infergate::gateway::scheduling

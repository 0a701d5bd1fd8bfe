// Scorer::add_scores, which the profile calls when it does not show each scorer's share: the
// scorers that add in the same pass as they score (queue, running-requests, prefix-cache) and
// those that keep the default give the totals that score() and add_weighted() give, bit for bit,
// from zeros and from earlier totals, with the signal spread or all equal.
#include <gtest/gtest.h>

#include <cstring>

#include "gateway/scheduling/framework/weighted_sum.hpp"
#include "plugins/plugin_fixture.hpp"

namespace infergate::gateway::scheduling {
namespace {

using testing::Decision;
using testing::make_plugin;
using testing::TestPool;

// The totals from `from` (empty: zeros), added both ways, and added onto `from` in place (the
// profile's case for every scorer after the first).
void expect_same_totals(Decision& d, Scorer& s, double weight, const std::vector<double>& from,
                        const std::string& what) {
  const std::size_t n = d.candidates.size();
  const double* base = from.empty() ? nullptr : from.data();
  std::vector<double> scratch(n), apart(n), fused(n, -1.0);
  s.score(*d.state, d.candidates, scratch);
  add_weighted(base, scratch, weight, s.bounded(), apart);
  s.add_scores(*d.state, d.candidates, weight, base, fused, scratch);
  // Bit for bit (EXPECT_EQ on doubles would take -0.0 for 0.0).
  EXPECT_EQ(std::memcmp(apart.data(), fused.data(), n * sizeof(double)), 0) << what;
  if (from.empty()) return;
  std::vector<double> in_place = from;
  s.add_scores(*d.state, d.candidates, weight, in_place.data(), in_place, scratch);
  EXPECT_EQ(std::memcmp(apart.data(), in_place.data(), n * sizeof(double)), 0)
      << what << " in place";
}

TEST(Scorers, AddingScoresInTheirPassEqualsScoringThenAdding) {
  const std::string prompt(64 * 7, 'p');
  std::vector<std::uint64_t> blocks;
  prefix::hash_prompt_blocks("m", prompt, {}, blocks);
  for (const bool spread : {true, false}) {
    TestPool tp(7);
    for (std::size_t i = 0; i < 7; ++i) {
      const double k = spread ? static_cast<double>((i * 5) % 7) : 2.0;
      tp.set(i, {.waiting = k, .kv = 0.1 * k});
      tp.pool.endpoints[i]->in_flight = static_cast<int>(3 * k);
      tp.pool.endpoints[i]->in_flight_tokens = static_cast<long>(1000 * k);
      if (spread) tp.prefix_index->record(tp.pool.endpoints[i]->id, std::span(blocks).first(i));
    }
    const std::vector<double> earlier{0.3, 1.7, 0.0, 2.25, 0.1, 5.5, 0.9};
    for (const char* type : {"queue-scorer", "running-requests-scorer", "prefix-cache-scorer",
                             "kv-cache-utilization-scorer", "token-load-scorer"}) {
      const auto scorer = make_plugin<Scorer>(type);
      for (const double weight : {1.0, 0.37, 3.0}) {
        Decision d(tp, "m", prompt);
        const std::string what =
            std::string(type) + (spread ? " spread" : " equal") + " x" + std::to_string(weight);
        expect_same_totals(d, *scorer, weight, {}, what + " from zeros");
        expect_same_totals(d, *scorer, weight, earlier, what + " from earlier totals");
      }
    }
  }
}

}  // namespace
}  // namespace infergate::gateway::scheduling

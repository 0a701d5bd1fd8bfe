// max-score-picker: the best total; ties broken uniformly (100k picks, fixed seed).
#include <gtest/gtest.h>

#include "plugins/plugin_fixture.hpp"

namespace infergate::gateway::scheduling {
namespace {

using testing::make_plugin;
using testing::pick_counts;
using testing::TestPool;

TEST(Pickers, MaxScorePicksTheBestAndBreaksTiesUniformly) {
  TestPool tp(4);
  auto picker = make_plugin<Picker>("max-score-picker");
  EXPECT_EQ(pick_counts(*picker, tp, {0.1, 0.9, 0.3, 0.2}, 1000),
            (std::vector<int>{0, 1000, 0, 0}));
  const int n = 100000;
  const auto c = pick_counts(*picker, tp, {0.5, 0.9, 0.9, 0.9}, n);
  EXPECT_EQ(c[0], 0);
  for (int i = 1; i < 4; ++i)
    EXPECT_NEAR(c[static_cast<std::size_t>(i)] / double(n), 1.0 / 3, 0.01);
}

// The best in each lane of the picker's unrolled maximum, and in its tail.
TEST(Pickers, MaxScoreFindsTheBestAnywhere) {
  TestPool tp(7);
  auto picker = make_plugin<Picker>("max-score-picker");
  for (std::size_t best = 0; best < 7; ++best) {
    std::vector<double> totals(7, 0.4);
    totals[best] = 0.6;
    std::vector<int> expected(7, 0);
    expected[best] = 10;
    EXPECT_EQ(pick_counts(*picker, tp, totals, 10), expected) << best;
  }
}

// Ties anywhere among nine candidates (the unrolled passes' lanes and tail): the pick is the
// k-th of the tied candidates for k drawn below their count, the draw made only when there are
// several, as a picker that counts them all first would pick with the same random numbers.
TEST(Pickers, MaxScoreDrawsAmongTiesAsCountingThemAllFirst) {
  TestPool tp(9);
  auto picker = make_plugin<Picker>("max-score-picker");
  testing::Decision d(tp);
  Mt19937Random reference(42);  // the pool's random source, seeded alike
  for (std::size_t mask = 1; mask < (1u << 9); ++mask) {
    std::vector<double> totals(9, 0.25);
    std::vector<std::size_t> tied;
    for (std::size_t i = 0; i < 9; ++i) {
      if ((mask >> i) & 1) {
        totals[i] = 0.75;
        tied.push_back(i);
      }
    }
    for (int draw = 0; draw < 3; ++draw) {
      const std::size_t expected = tied.size() > 1 ? tied[reference.below(tied.size())] : tied[0];
      EXPECT_EQ(d.pick(*picker, totals), expected) << mask << " " << draw;
    }
  }
}

}  // namespace
}  // namespace infergate::gateway::scheduling

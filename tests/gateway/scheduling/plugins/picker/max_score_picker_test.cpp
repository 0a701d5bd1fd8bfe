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

}  // namespace
}  // namespace infergate::gateway::scheduling

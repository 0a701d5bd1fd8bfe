// weighted-random-picker: proportional to the total score (100k picks, fixed seed).
#include <gtest/gtest.h>

#include "plugins/plugin_fixture.hpp"

namespace infergate::gateway::scheduling {
namespace {

using testing::make_plugin;
using testing::pick_counts;
using testing::TestPool;

TEST(Pickers, WeightedRandomIsProportionalToScore) {
  TestPool tp(4);
  const int n = 100000;
  const auto c = pick_counts(*make_plugin<Picker>("weighted-random-picker"), tp, {1, 2, 3, 4}, n);
  for (std::size_t i = 0; i < 4; ++i) EXPECT_NEAR(c[i] / double(n), (i + 1) / 10.0, 0.01);
  const auto zero =
      pick_counts(*make_plugin<Picker>("weighted-random-picker"), tp, {0, 0, 0, 0}, n);
  for (int x : zero) EXPECT_NEAR(x / double(n), 0.25, 0.01);
}

}  // namespace
}  // namespace infergate::gateway::scheduling

// random-picker: uniform over the candidates, whatever their scores (100k picks, fixed seed).
#include <gtest/gtest.h>

#include "plugins/plugin_fixture.hpp"

namespace infergate::gateway::scheduling {
namespace {

using testing::make_plugin;
using testing::pick_counts;
using testing::TestPool;

TEST(Pickers, RandomIsUniform) {
  TestPool tp(5);
  const int n = 100000;
  const auto c = pick_counts(*make_plugin<Picker>("random-picker"), tp, {1, 0, 0, 0, 0}, n);
  for (int x : c) EXPECT_NEAR(x / double(n), 0.2, 0.01);
}

}  // namespace
}  // namespace infergate::gateway::scheduling

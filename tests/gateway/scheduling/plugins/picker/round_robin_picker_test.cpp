// round-robin-picker: the candidates in turn.
#include <gtest/gtest.h>

#include "plugins/plugin_fixture.hpp"

namespace infergate::gateway::scheduling {
namespace {

using testing::make_plugin;
using testing::pick_counts;
using testing::TestPool;

TEST(Pickers, RoundRobinTakesEachInTurn) {
  TestPool tp(3);
  EXPECT_EQ(pick_counts(*make_plugin<Picker>("round-robin-picker"), tp, {0, 0, 0}, 300),
            (std::vector<int>{100, 100, 100}));
}

}  // namespace
}  // namespace infergate::gateway::scheduling

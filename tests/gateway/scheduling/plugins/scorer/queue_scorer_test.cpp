// queue-scorer: engine queues normalised between the shortest and the longest.
#include <gtest/gtest.h>

#include "plugins/plugin_fixture.hpp"

namespace infergate::gateway::scheduling {
namespace {

using testing::Decision;
using testing::make_plugin;
using testing::TestPool;

TEST(Scorers, QueueScorerNormalisesBetweenShortestAndLongest) {
  TestPool tp(3);
  tp.set(0, {.waiting = 0});
  tp.set(1, {.waiting = 5});
  tp.set(2, {.waiting = 10});
  Decision d(tp);
  EXPECT_EQ(d.score(*make_plugin<Scorer>("queue-scorer")), (std::vector<double>{1.0, 0.5, 0.0}));
  tp.set(1, {.waiting = 0});
  tp.set(2, {.waiting = 0});
  Decision equal(tp);
  EXPECT_EQ(equal.score(*make_plugin<Scorer>("queue-scorer")),
            (std::vector<double>{1.0, 1.0, 1.0}));
}

// Enough candidates for the shortest and the longest queue to sit in different lanes of the
// scorer's unrolled minimum and maximum, and in its tail.
TEST(Scorers, QueueScorerFindsTheExtremesAnywhere) {
  TestPool tp(11);
  for (std::size_t i = 0; i < 11; ++i) tp.set(i, {.waiting = 4});
  tp.set(6, {.waiting = 2});
  tp.set(10, {.waiting = 12});
  Decision d(tp);
  const std::vector<double> scores = d.score(*make_plugin<Scorer>("queue-scorer"));
  EXPECT_EQ(scores[6], 1.0);
  EXPECT_EQ(scores[10], 0.0);
  EXPECT_DOUBLE_EQ(scores[0], 0.8);
}

}  // namespace
}  // namespace infergate::gateway::scheduling

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

}  // namespace
}  // namespace infergate::gateway::scheduling

// least-queue-filter: the lowest band of engine queues.
#include <gtest/gtest.h>

#include "plugins/plugin_fixture.hpp"

namespace infergate::gateway::scheduling {
namespace {

using testing::Decision;
using testing::make_plugin;
using testing::TestPool;

TEST(Filters, LeastQueueKeepsTheLowestBandOfQueues) {
  TestPool tp(4);
  tp.set(0, {.waiting = 0, .kv = 0.9});
  tp.set(1, {.waiting = 3, .kv = 0.1});
  tp.set(2, {.waiting = 200, .kv = 0.2});
  tp.set(3, {.waiting = 40, .kv = 0.5});
  Decision d(tp);
  // Band [0, 0 + 200/4 = 50]: 0, 1, 3.
  EXPECT_EQ(d.filter(*make_plugin<Filter>("least-queue-filter")),
            (std::vector<std::size_t>{0, 1, 3}));
}

}  // namespace
}  // namespace infergate::gateway::scheduling

// low-queue-filter: engine queues up to a threshold.
#include <gtest/gtest.h>

#include "plugins/plugin_fixture.hpp"

namespace infergate::gateway::scheduling {
namespace {

using testing::Decision;
using testing::make_plugin;
using testing::TestPool;

TEST(Filters, LowQueueKeepsQueuesUpToTheThreshold) {
  TestPool tp(4);
  tp.set(0, {.waiting = 0});
  tp.set(1, {.waiting = 3});
  tp.set(2, {.waiting = 200});
  tp.set(3, {.waiting = 40});
  Decision d(tp);
  EXPECT_EQ(d.filter(*make_plugin<Filter>("low-queue-filter")),
            (std::vector<std::size_t>{0, 1, 3}));
  EXPECT_EQ(d.filter(*make_plugin<Filter>("low-queue-filter", {{"threshold", "10"}})),
            (std::vector<std::size_t>{0, 1}));
}

}  // namespace
}  // namespace infergate::gateway::scheduling

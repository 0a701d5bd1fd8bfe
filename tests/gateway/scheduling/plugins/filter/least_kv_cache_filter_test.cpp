// least-kv-cache-filter: the lowest band of KV-cache use.
#include <gtest/gtest.h>

#include "plugins/plugin_fixture.hpp"

namespace infergate::gateway::scheduling {
namespace {

using testing::Decision;
using testing::make_plugin;
using testing::TestPool;

TEST(Filters, LeastKvCacheKeepsTheLowestBandOfKvCacheUse) {
  TestPool tp(4);
  tp.set(0, {.waiting = 0, .kv = 0.9});
  tp.set(1, {.waiting = 3, .kv = 0.1});
  tp.set(2, {.waiting = 200, .kv = 0.2});
  tp.set(3, {.waiting = 40, .kv = 0.5});
  Decision d(tp);
  // Band [0.1, 0.1 + 0.8/4 = 0.3]: 1, 2.
  EXPECT_EQ(d.filter(*make_plugin<Filter>("least-kv-cache-filter")),
            (std::vector<std::size_t>{1, 2}));
}

}  // namespace
}  // namespace infergate::gateway::scheduling

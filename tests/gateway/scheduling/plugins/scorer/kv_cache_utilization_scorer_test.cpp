// kv-cache-utilization-scorer (and its older name kv-cache-scorer): 1 - KV-cache use.
#include <gtest/gtest.h>

#include "plugins/plugin_fixture.hpp"

namespace infergate::gateway::scheduling {
namespace {

using testing::Decision;
using testing::make_plugin;
using testing::TestPool;

TEST(Scorers, KvCacheScorerIsOneMinusUse) {
  TestPool tp(2);
  tp.set(0, {.kv = 0.25});
  tp.set(1, {.kv = 0.9});
  Decision d(tp);
  const auto s = d.score(*make_plugin<Scorer>("kv-cache-utilization-scorer"));
  EXPECT_DOUBLE_EQ(s[0], 0.75);
  EXPECT_NEAR(s[1], 0.1, 1e-12);
  EXPECT_EQ(d.score(*make_plugin<Scorer>("kv-cache-scorer")), s);  // the older name
}

}  // namespace
}  // namespace infergate::gateway::scheduling

// running-requests-scorer: the gateway's own in-flight requests per endpoint, fewer is better.
#include <gtest/gtest.h>

#include "plugins/plugin_fixture.hpp"

namespace infergate::gateway::scheduling {
namespace {

using testing::Decision;
using testing::make_plugin;
using testing::TestPool;

TEST(Scorers, RunningRequestsUseTheGatewaysOwnCounters) {
  TestPool tp(3);
  tp.pool.endpoints[0]->in_flight = 4;
  tp.pool.endpoints[1]->in_flight = 2;
  tp.pool.endpoints[2]->in_flight = 0;
  Decision d(tp);
  EXPECT_EQ(d.score(*make_plugin<Scorer>("running-requests-scorer")),
            (std::vector<double>{0.0, 0.5, 1.0}));
}

}  // namespace
}  // namespace infergate::gateway::scheduling

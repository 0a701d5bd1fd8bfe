// token-load-scorer: the gateway's own in-flight tokens per endpoint against maxTokens.
#include <gtest/gtest.h>

#include "plugins/plugin_fixture.hpp"

namespace infergate::gateway::scheduling {
namespace {

using testing::Decision;
using testing::make_plugin;
using testing::TestPool;

TEST(Scorers, TokenLoadUsesTheGatewaysOwnCounters) {
  TestPool tp(3);
  tp.pool.endpoints[0]->in_flight_tokens = 4194304;
  tp.pool.endpoints[1]->in_flight_tokens = 1048576;
  Decision d(tp);
  EXPECT_EQ(d.score(*make_plugin<Scorer>("token-load-scorer")),
            (std::vector<double>{0.0, 0.75, 1.0}));
  EXPECT_EQ(d.score(*make_plugin<Scorer>("token-load-scorer", {{"maxTokens", "2097152"}})),
            (std::vector<double>{0.0, 0.5, 1.0}));
}

}  // namespace
}  // namespace infergate::gateway::scheduling

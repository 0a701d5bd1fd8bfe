// cache-aware-picker: SGLang's rule, the best prefix match unless the load is imbalanced.
#include <gtest/gtest.h>

#include "plugins/plugin_fixture.hpp"

namespace infergate::gateway::scheduling {
namespace {

using testing::Decision;
using testing::make_plugin;
using testing::TestPool;

TEST(Pickers, CacheAwareFollowsThePrefixUnlessLoadIsImbalanced) {
  TestPool tp(3);
  const std::string prompt(64 * 8, 'p');
  std::vector<std::uint64_t> blocks;
  prefix::hash_prompt_blocks("m", prompt, {}, blocks);
  tp.prefix_index->record(3, blocks);  // ep2 holds the prompt
  tp.pool.endpoints[0]->in_flight = 1;
  tp.pool.endpoints[1]->in_flight = 0;
  tp.pool.endpoints[2]->in_flight = 10;
  auto picker = make_plugin<Picker>("cache-aware-picker");
  {
    Decision d(tp, "m", prompt);
    EXPECT_EQ(d.pick(*picker, std::vector<double>(3)), 2u);
  }
  tp.pool.endpoints[2]->in_flight = 100;  // 100 - 0 > 64 and 100 > 1.5 x 0: imbalanced
  {
    Decision d(tp, "m", prompt);
    EXPECT_EQ(d.pick(*picker, std::vector<double>(3)), 1u);
  }
  {
    Decision d(tp, "m", std::string(64 * 8, 'q'));  // nothing cached: least loaded
    tp.pool.endpoints[2]->in_flight = 10;
    EXPECT_EQ(d.pick(*picker, std::vector<double>(3)), 1u);
  }
}

}  // namespace
}  // namespace infergate::gateway::scheduling

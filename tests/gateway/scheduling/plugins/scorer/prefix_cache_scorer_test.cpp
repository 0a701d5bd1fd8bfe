// prefix-cache-scorer: the share of the prompt's leading blocks the prefix index holds.
#include <gtest/gtest.h>

#include "plugins/plugin_fixture.hpp"

namespace infergate::gateway::scheduling {
namespace {

using testing::Decision;
using testing::make_plugin;
using testing::TestPool;

TEST(Scorers, PrefixScorerIsTheShareOfLeadingBlocksCachedOnTheEndpoint) {
  TestPool tp(3);
  const std::string prompt(64 * 10, 'x');  // 10 blocks
  std::vector<std::uint64_t> blocks;
  prefix::hash_prompt_blocks("m", prompt, {}, blocks);
  ASSERT_EQ(blocks.size(), 10u);
  tp.prefix_index->record(1, blocks);                                           // ep0: all 10
  tp.prefix_index->record(2, std::span<const std::uint64_t>(blocks).first(4));  // ep1: the first 4
  Decision d(tp, "m", prompt);
  const auto s = d.score(*make_plugin<Scorer>("prefix-cache-scorer"));
  EXPECT_DOUBLE_EQ(s[0], 1.0);
  EXPECT_DOUBLE_EQ(s[1], 0.4);
  EXPECT_DOUBLE_EQ(s[2], 0.0);
  // Another target model hashes differently: no match.
  Decision other(tp, "other-model", prompt);
  EXPECT_EQ(other.score(*make_plugin<Scorer>("prefix-cache-scorer")),
            (std::vector<double>{0, 0, 0}));
}

}  // namespace
}  // namespace infergate::gateway::scheduling

// lora-affinity-scorer: the request's adapter running, a free slot, waiting, or no room.
#include <gtest/gtest.h>

#include "plugins/plugin_fixture.hpp"

namespace infergate::gateway::scheduling {
namespace {

using testing::Decision;
using testing::make_plugin;
using testing::TestPool;

TEST(Scorers, LoraAffinityScoresRunningFreeSlotWaitingFull) {
  TestPool tp(4);
  tp.set(0, {.running_adapters = {"sql-lora"}, .max_lora = 2});
  tp.set(1, {.running_adapters = {"other"}, .max_lora = 2});  // free slot
  tp.set(2, {.running_adapters = {"a"},
             .waiting_adapters = {"sql-lora"},
             .max_lora = 2});                                  // waiting, full
  tp.set(3, {.running_adapters = {"a", "b"}, .max_lora = 2});  // full
  Decision d(tp, "sql-lora");
  EXPECT_EQ(d.score(*make_plugin<Scorer>("lora-affinity-scorer")),
            (std::vector<double>{1.0, 0.8, 0.6, 0.0}));
}

TEST(Scorers, LoraAffinityScoresAnEndpointWithoutAdapterInfoAsAFreeSlot) {
  TestPool tp(2);
  tp.set(0, {});  // the engine reports no adapters
  tp.set(1, {.running_adapters = {"sql-lora"}, .max_lora = 1});
  Decision d(tp, "sql-lora");
  EXPECT_EQ(d.score(*make_plugin<Scorer>("lora-affinity-scorer")), (std::vector<double>{0.8, 1.0}));
}

// No endpoint runs or waits for the model (the base model, say): the view says so once, and each
// endpoint is scored by its free slots alone. Without the view, each endpoint's lists are read:
// the same scores.
TEST(Scorers, LoraAffinityForAModelNoEndpointHasGoesByFreeSlots) {
  TestPool tp(4);
  tp.set(0, {.running_adapters = {"a"}, .max_lora = 2});                             // free slot
  tp.set(1, {.running_adapters = {"a", "b"}, .max_lora = 2});                        // full
  tp.set(2, {.running_adapters = {"a"}, .waiting_adapters = {"c"}, .max_lora = 2});  // full
  tp.set(3, {});  // no adapter information
  const std::vector<double> expected{0.8, 0.0, 0.0, 0.8};
  Decision d(tp, "base-model");
  ASSERT_FALSE(d.view->has_adapter("base-model"));
  ASSERT_TRUE(d.view->has_adapter("c"));
  auto scorer = make_plugin<Scorer>("lora-affinity-scorer");
  EXPECT_EQ(d.score(*scorer), expected);
  d.state->begin_decision(tp.clock.now(), nullptr);
  EXPECT_EQ(d.score(*scorer), expected);
}

}  // namespace
}  // namespace infergate::gateway::scheduling

// lora-affinity-filter: endpoints with the adapter loaded, else those with a free slot.
#include <gtest/gtest.h>

#include "plugins/plugin_fixture.hpp"

namespace infergate::gateway::scheduling {
namespace {

using testing::Decision;
using testing::make_plugin;
using testing::TestPool;

TEST(Filters, LoraAffinityPrefersLoadedThenFreeSlots) {
  TestPool tp(3);
  tp.set(0, {.running_adapters = {"x"}, .max_lora = 1});    // full, no adapter
  tp.set(1, {.running_adapters = {"sql"}, .max_lora = 1});  // has it
  tp.set(2, {.running_adapters = {}, .max_lora = 1});       // free slot
  Decision d(tp, "sql");
  EXPECT_EQ(d.filter(*make_plugin<Filter>("lora-affinity-filter", {{"threshold", "1"}})),
            (std::vector<std::size_t>{1}));
  EXPECT_EQ(d.filter(*make_plugin<Filter>("lora-affinity-filter", {{"threshold", "0"}})),
            (std::vector<std::size_t>{2}));
  Decision nobody(tp, "new-adapter");
  EXPECT_EQ(nobody.filter(*make_plugin<Filter>("lora-affinity-filter")),
            (std::vector<std::size_t>{2}));
}

}  // namespace
}  // namespace infergate::gateway::scheduling

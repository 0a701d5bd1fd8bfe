// Every built-in plugin type is registered under its name (and aliases), at its extension
// point, and builds with its default parameters.
#include <gtest/gtest.h>

#include "plugins/plugin_fixture.hpp"

namespace infergate::gateway::scheduling {
namespace {

using testing::make_plugin;

TEST(BuiltinPlugins, EveryTypeIsRegisteredAtItsExtensionPoint) {
  for (const char* type :
       {"low-queue-filter", "least-queue-filter", "least-kv-cache-filter", "lora-affinity-filter"})
    EXPECT_TRUE(make_plugin<Filter>(type));
  EXPECT_TRUE(builtin_plugins().knows("decision-tree-filter"));  // needs parameters: its test
  for (const char* type :
       {"queue-scorer", "kv-cache-utilization-scorer", "kv-cache-scorer", "running-requests-scorer",
        "token-load-scorer", "lora-affinity-scorer", "prefix-cache-scorer"})
    EXPECT_TRUE(make_plugin<Scorer>(type));
  for (const char* type : {"max-score-picker", "random-picker", "weighted-random-picker",
                           "round-robin-picker", "cache-aware-picker"})
    EXPECT_TRUE(make_plugin<Picker>(type));
  for (const char* type : {"single-profile-handler", "openai-parser"})
    EXPECT_EQ(make_plugin<Plugin>(type)->point(), ExtensionPoint::kOther);
}

TEST(BuiltinPlugins, AnAliasBuildsThePluginUnderItsRegisteredType) {
  EXPECT_EQ(make_plugin<Scorer>("kv-cache-scorer")->type, "kv-cache-utilization-scorer");
}

}  // namespace
}  // namespace infergate::gateway::scheduling

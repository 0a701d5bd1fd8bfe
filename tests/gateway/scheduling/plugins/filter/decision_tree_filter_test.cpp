// decision-tree-filter: runs `current`; `nextOnSuccess` continues from what it kept,
// `nextOnFailure` from what it was given when it kept none. Built from configuration text,
// since its branches refer to filters defined earlier in `plugins`.
#include <gtest/gtest.h>

#include <map>

#include "config/load_resources.hpp"
#include "plugins/plugin_fixture.hpp"

namespace infergate::gateway::scheduling {
namespace {

using testing::Decision;
using testing::TestPool;

// Builds an EndpointPickerConfig's `plugins` in order, as a profile builds them; errors go to
// `diag`. Returns the plugin named `name`.
std::shared_ptr<Plugin> build(const std::string& plugins, const std::string& name,
                              config::Diagnostics& diag) {
  config::LoadResult loaded;
  config::load_text(
      "apiVersion: inference.networking.x-k8s.io/v1alpha1\nkind: EndpointPickerConfig\n" + plugins +
          "schedulingProfiles: [{name: default, plugins: [{pluginRef: " + name + "}]}]\n",
      "epc.yaml", loaded);
  EXPECT_TRUE(loaded.diagnostics.ok()) << loaded.diagnostics.error_text();
  if (loaded.resources.picker_configs.size() != 1) return nullptr;
  std::map<std::string, std::shared_ptr<Plugin>, std::less<>> built;
  const PluginLookup lookup = [&](std::string_view n) -> std::shared_ptr<Plugin> {
    auto it = built.find(n);
    return it == built.end() ? nullptr : it->second;
  };
  for (const auto& spec : loaded.resources.picker_configs.front().plugins)
    if (auto p = builtin_plugins().create(spec, diag, lookup)) built[spec.name] = std::move(p);
  auto it = built.find(name);
  return it == built.end() ? nullptr : it->second;
}

const std::string kTree = R"(plugins:
- {name: short-queue, type: low-queue-filter, parameters: {threshold: 10}}
- {type: least-kv-cache-filter}
- {type: least-queue-filter}
- name: tree
  type: decision-tree-filter
  parameters:
    current: {pluginRef: short-queue}
    nextOnSuccess: {pluginRef: least-kv-cache-filter}
    nextOnFailure: {pluginRef: least-queue-filter}
)";

TEST(Filters, DecisionTreeContinuesFromWhatCurrentKeptOrFallsBackOnFailure) {
  config::Diagnostics diag;
  auto tree = std::dynamic_pointer_cast<Filter>(build(kTree, "tree", diag));
  ASSERT_TRUE(tree) << diag.error_text();

  TestPool tp(4);
  tp.set(0, {.waiting = 0, .kv = 0.9});
  tp.set(1, {.waiting = 3, .kv = 0.1});
  tp.set(2, {.waiting = 200, .kv = 0.2});
  tp.set(3, {.waiting = 40, .kv = 0.5});
  // short-queue keeps 0 and 1; least-kv-cache over those, band [0.1, 0.1 + 0.8/2]: 1.
  EXPECT_EQ(Decision(tp).filter(*tree), (std::vector<std::size_t>{1}));

  tp.set(0, {.waiting = 20, .kv = 0.9});
  tp.set(1, {.waiting = 30, .kv = 0.1});
  // short-queue keeps none; least-queue over all four, band [20, 20 + 180/4 = 65]: 0, 1, 3.
  EXPECT_EQ(Decision(tp).filter(*tree), (std::vector<std::size_t>{0, 1, 3}));
}

TEST(Filters, DecisionTreeBranchesMustBeFiltersDefinedEarlier) {
  const auto error_of = [](const std::string& plugins) {
    config::Diagnostics diag;
    EXPECT_FALSE(build(plugins, "tree", diag));
    return diag.error_text();
  };
  const std::string tree =
      "- {name: tree, type: decision-tree-filter, parameters: {current: {pluginRef: other}}}\n";
  const std::string expected = "'other' is not a filter defined earlier in plugins";
  const std::string picker = error_of("plugins:\n- {name: other, type: max-score-picker}\n" + tree);
  EXPECT_NE(picker.find(expected), std::string::npos) << picker;
  const std::string later =
      error_of("plugins:\n" + tree + "- {name: other, type: least-queue-filter}\n");
  EXPECT_NE(later.find(expected), std::string::npos) << later;
}

}  // namespace
}  // namespace infergate::gateway::scheduling

// The plugin registry: an unknown type or parameter fails with file, line and field.
#include "gateway/scheduling/framework/registry.hpp"

#include <gtest/gtest.h>

namespace infergate::gateway::scheduling {
namespace {

TEST(Registry, UnknownTypesAndParametersAreErrorsWithTheirLocation) {
  config::PluginSpec spec;
  spec.type = spec.name = "no-such-scorer";
  spec.path = "plugins[3]";
  spec.where = {"f.yaml", 7, 3};
  config::Diagnostics diag;
  EXPECT_FALSE(builtin_plugins().create(spec, diag, {}));
  ASSERT_EQ(diag.errors.size(), 1u);
  EXPECT_NE(diag.errors[0].to_string().find(
                "f.yaml:7:3: plugins[3].type: unknown plugin type 'no-such-scorer'"),
            std::string::npos)
      << diag.errors[0].to_string();

  spec.type = "low-queue-filter";
  config::PluginParameter bad;
  bad.value = "lots";
  bad.path = "plugins[3].parameters.threshold";
  bad.where = {"f.yaml", 9, 18};
  spec.parameters.is_map = true;
  spec.parameters.fields = {bad, bad};
  spec.parameters.fields[0].key = "threshold";
  spec.parameters.fields[1].key = "treshold";
  spec.parameters.fields[1].path = "plugins[3].parameters.treshold";
  config::Diagnostics diag2;
  EXPECT_FALSE(builtin_plugins().create(spec, diag2, {}));
  ASSERT_EQ(diag2.errors.size(), 2u) << diag2.error_text();
  EXPECT_NE(
      diag2.error_text().find("f.yaml:9:18: plugins[3].parameters.threshold: must be a number"),
      std::string::npos);
  EXPECT_NE(diag2.error_text().find("plugins[3].parameters.treshold: unknown parameter"),
            std::string::npos);
}

}  // namespace
}  // namespace infergate::gateway::scheduling

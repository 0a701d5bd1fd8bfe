// Flow control's per-pool state: one controller per pool, bound to each new snapshot's pool and
// kept across reloads, dropped with its pool, and given new options at a reload.
#include "gateway/flowcontrol/flow_control.hpp"

#include <gtest/gtest.h>

#include "config/load_resources.hpp"

namespace infergate::gateway::flowcontrol {
namespace {

std::shared_ptr<const config::Config> config_of(const std::vector<std::string>& pools) {
  std::string text = R"(
apiVersion: infergate.dev/v1alpha1
kind: StaticEndpoints
metadata: {name: eps}
spec:
  endpoints:
  - {name: a0, address: "10.0.0.1:8000", labels: {app: a}}
)";
  for (const auto& p : pools)
    text +=
        "---\napiVersion: inference.networking.k8s.io/v1\nkind: InferencePool\nmetadata: "
        "{name: " +
        p + "}\nspec: {targetPorts: [{number: 8000}], selector: {matchLabels: {app: a}}}\n";
  config::LoadResult loaded;
  config::load_text(text, "test.yaml", loaded);
  auto built = config::build_config(std::move(loaded));
  if (!built.config) throw std::runtime_error(built.diagnostics.error_text());
  return built.config;
}

std::size_t controllers(const FlowControl& fc) {
  std::size_t n = 0;
  fc.for_each([&](const FlowController&) { ++n; });
  return n;
}

TEST(FlowControl, EachPoolKeepsItsControllerAcrossReloads) {
  ManualClock clock;
  auto fc = std::make_shared<FlowControl>(clock, FlowControlOptions{});
  Datastore datastore({}, {fc});
  auto first = datastore.reconcile(config_of({"a", "b"}));
  ASSERT_TRUE(first->services[0].flow);
  ASSERT_TRUE(first->services[1].flow);
  EXPECT_NE(first->services[0].flow, first->services[1].flow);
  const auto a = first->services[0].flow;
  EXPECT_EQ(controllers(*fc), 2u);

  auto second = datastore.reconcile(config_of({"a"}));
  EXPECT_EQ(second->services[0].flow, a) << "the same pool keeps its queue";
  EXPECT_EQ(controllers(*fc), 1u) << "pool b's controller is gone";

  FlowControlOptions o;
  o.retry_after = std::chrono::seconds(7);
  fc->set_options(o);
  EXPECT_EQ(a->retry_after(), std::chrono::seconds(7));
}

}  // namespace
}  // namespace infergate::gateway::flowcontrol

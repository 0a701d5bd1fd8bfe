#include "gateway/routing/router.hpp"

#include <gtest/gtest.h>

#include <map>

namespace infergate::gateway {
namespace {

std::shared_ptr<const config::Config> load(const std::string& yaml) {
  config::LoadResult loaded;
  config::load_text(yaml, "t.yaml", loaded);
  auto built = config::build_config(std::move(loaded));
  EXPECT_TRUE(built.config) << built.diagnostics.error_text();
  return built.config;
}

std::string pools(int n) {
  std::string out;
  for (int i = 0; i < n; ++i)
    out += "apiVersion: inference.networking.k8s.io/v1\nkind: InferencePool\nmetadata: {name: p" +
           std::to_string(i) +
           "}\nspec: {targetPorts: [{number: 80}], selector: {matchLabels: {a: b}}}\n---\n";
  return out;
}

HeaderLookup no_headers() {
  return [](std::string_view) -> std::optional<std::string_view> { return std::nullopt; };
}

TEST(Router, WeightedSplitWithinOnePercent) {
  Router router(load(pools(2) + R"(apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r}
spec:
  rules:
  - backendRefs:
    - {group: inference.networking.k8s.io, kind: InferencePool, name: p0, weight: 80}
    - {group: inference.networking.k8s.io, kind: InferencePool, name: p1, weight: 20}
    - {group: inference.networking.k8s.io, kind: InferencePool, name: p1, weight: 0}
)"));
  Mt19937Random random(42);
  int p0 = 0;
  constexpr int kDraws = 100000;
  for (int i = 0; i < kDraws; ++i)
    p0 +=
        std::get<RouteDecision>(router.route("/v1/completions", "m", no_headers(), random)).pool ==
        0;
  EXPECT_NEAR(static_cast<double>(p0) / kDraws, 0.8, 0.01);
}

TEST(Router, PrecedenceExactThenLongestPrefixThenHeadersThenAge) {
  Router router(load(pools(4) + R"(apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: old}
spec:
  rules:
  - matches: [{path: {type: PathPrefix, value: /}}]
    backendRefs: [{group: inference.networking.k8s.io, kind: InferencePool, name: p0}]
  - matches: [{path: {type: PathPrefix, value: /v1}, headers: [{name: x-tier, value: gold}]}]
    backendRefs: [{group: inference.networking.k8s.io, kind: InferencePool, name: p3}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: new}
spec:
  rules:
  - matches: [{path: {type: PathPrefix, value: /v1}}]
    backendRefs: [{group: inference.networking.k8s.io, kind: InferencePool, name: p1}]
  - matches: [{path: {type: Exact, value: /v1/embeddings}}]
    backendRefs: [{group: inference.networking.k8s.io, kind: InferencePool, name: p2}]
)"));
  Mt19937Random random(1);
  auto pool_for = [&](std::string_view path, std::optional<std::string_view> tier = std::nullopt) {
    const HeaderLookup headers = [&](std::string_view n) -> std::optional<std::string_view> {
      return n == "x-tier" ? tier : std::nullopt;
    };
    return std::get<RouteDecision>(router.route(path, "m", headers, random)).pool;
  };
  EXPECT_EQ(pool_for("/v1/embeddings"), 2u) << "exact wins";
  EXPECT_EQ(pool_for("/v1/completions"), 1u) << "longer prefix wins";
  EXPECT_EQ(pool_for("/v1/completions", "gold"), 3u) << "same prefix, more headers wins";
  EXPECT_EQ(pool_for("/v10/x"), 0u) << "prefixes match whole segments";
}

TEST(Router, WithoutRoutesModelsGoToTheirPool) {
  Router router(load(pools(2) + R"(apiVersion: inference.networking.x-k8s.io/v1alpha2
kind: InferenceModel
metadata: {name: m}
spec: {modelName: m1, poolRef: {name: p1}}
)"));
  Mt19937Random random(1);
  EXPECT_EQ(
      std::get<RouteDecision>(router.route("/v1/completions", "m1", no_headers(), random)).pool,
      1u);
  EXPECT_EQ(
      std::get<RequestError>(router.route("/v1/completions", "m2", no_headers(), random)).status,
      404)
      << "two pools and no declaration: nowhere to go";
}

TEST(ResolveModel, TargetsDrawnByWeightAndObjectivesSetPriority) {
  auto config = load(pools(1) + R"(apiVersion: inference.networking.x-k8s.io/v1alpha2
kind: InferenceModel
metadata: {name: m}
spec:
  modelName: food
  criticality: Sheddable
  poolRef: {name: p0}
  targetModels: [{name: a, weight: 90}, {name: b, weight: 10}]
---
apiVersion: inference.networking.x-k8s.io/v1alpha2
kind: InferenceObjective
metadata: {name: urgent}
spec: {priority: 5, poolRef: {name: p0}}
)");
  Mt19937Random random(3);
  std::map<std::string, int> counts;
  constexpr int kDraws = 100000;
  for (int i = 0; i < kDraws; ++i)
    ++counts[resolve_model(config->pools[0], "food", "", random).target_model];
  EXPECT_NEAR(counts["a"] / double(kDraws), 0.9, 0.01);
  const auto r = resolve_model(config->pools[0], "food", "", random);
  EXPECT_EQ(r.priority, -1);
  EXPECT_EQ(resolve_model(config->pools[0], "food", "urgent", random).priority, 5);
  EXPECT_EQ(resolve_model(config->pools[0], "other", "", random).target_model, "other");
}

}  // namespace
}  // namespace infergate::gateway

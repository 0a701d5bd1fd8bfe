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

// InferenceModelRewrite, in both groups: an exact match beats a catch-all rule, then the oldest
// object wins, then the first rule; unweighted targets are drawn uniformly; an InferenceModel
// that rewrites the model comes first.
TEST(ResolveModel, ModelRewritesExactBeforeCatchAllThenOldestObject) {
  auto config = load(pools(1) + R"(apiVersion: inference.networking.x-k8s.io/v1alpha2
kind: InferenceModelRewrite
metadata: {name: catch-all}
spec:
  poolRef: {name: p0}
  rules:
  - targets: [{modelRewrite: base}]
---
apiVersion: llm-d.ai/v1alpha2
kind: InferenceModelRewrite
metadata: {name: older}
spec:
  poolRef: {group: inference.networking.k8s.io, name: p0}
  rules:
  - matches: [{model: {type: Exact, value: chat}}, {model: {value: talk}}]
    targets: [{modelRewrite: chat-v1}, {modelRewrite: chat-v2}]
  - matches: [{model: {value: chat}}]
    targets: [{modelRewrite: never-first-rule-wins}]
---
apiVersion: inference.networking.x-k8s.io/v1alpha2
kind: InferenceModelRewrite
metadata: {name: newer}
spec:
  poolRef: {name: p0}
  rules:
  - matches: [{model: {value: chat}}]
    targets: [{modelRewrite: never-older-wins}]
  - matches: [{model: {value: canary}}]
    targets: [{modelRewrite: stable, weight: 90}, {modelRewrite: next, weight: 10}]
  - targets: [{modelRewrite: never-older-catch-all-wins}]
---
apiVersion: inference.networking.x-k8s.io/v1alpha2
kind: InferenceModel
metadata: {name: declared}
spec: {modelName: talk, poolRef: {name: p0}, targetModels: [{name: talk-lora}]}
)");
  const config::PoolConfig& pool = config->pools[0];
  Mt19937Random random(7);
  std::map<std::string, int> chat, canary;
  constexpr int kDraws = 100000;
  for (int i = 0; i < kDraws; ++i) {
    ++chat[resolve_model(pool, "chat", "", random).target_model];
    ++canary[resolve_model(pool, "canary", "", random).target_model];
  }
  EXPECT_EQ(chat.size(), 2u);
  EXPECT_NEAR(chat["chat-v1"] / double(kDraws), 0.5, 0.01);
  EXPECT_NEAR(canary["stable"] / double(kDraws), 0.9, 0.01);
  EXPECT_EQ(canary["stable"] + canary["next"], kDraws);
  EXPECT_EQ(resolve_model(pool, "anything", "", random).target_model, "base");
  EXPECT_EQ(resolve_model(pool, "talk", "", random).target_model, "talk-lora");
}

TEST(ResolveModel, ModelRewriteErrorsNameTheField) {
  config::LoadResult loaded;
  config::load_text(pools(1) + R"(apiVersion: inference.networking.x-k8s.io/v1alpha2
kind: InferenceModelRewrite
metadata: {name: bad}
spec:
  poolRef: {name: p0}
  rules:
  - matches: [{model: {type: Prefix, value: x}}]
    targets: [{modelRewrite: a, weight: 1}, {modelRewrite: b}]
)",
                    "t.yaml", loaded);
  const auto built = config::build_config(std::move(loaded));
  ASSERT_FALSE(built.config);
  const std::string errors = built.diagnostics.error_text();
  EXPECT_NE(errors.find("must be Exact, got 'Prefix'"), std::string::npos) << errors;
  EXPECT_NE(errors.find("either every target has a weight or none has"), std::string::npos)
      << errors;
}

}  // namespace
}  // namespace infergate::gateway

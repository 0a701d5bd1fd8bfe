// The scheduling layer's per-pool state: each pool keeps its prefix index across reloads,
// loses the entries of endpoints that leave and the index of a pool that leaves, and sizes each
// endpoint's share from the KV capacity its published metrics report.
#include "gateway/scheduling/framework/prefix_indexes.hpp"

#include <gtest/gtest.h>

#include "config/load_resources.hpp"
#include "gateway/scheduling/framework/build.hpp"

namespace infergate::gateway::scheduling {
namespace {

std::shared_ptr<const config::Config> config_of(const std::string& endpoints,
                                                const std::string& pools) {
  config::LoadResult loaded;
  config::load_text(R"(
apiVersion: infergate.dev/v1alpha1
kind: StaticEndpoints
metadata: {name: eps}
spec:
  endpoints:
)" + endpoints + pools,
                    "test.yaml", loaded);
  auto built = config::build_config(std::move(loaded));
  if (!built.config) throw std::runtime_error(built.diagnostics.error_text());
  return built.config;
}

const std::string kPoolA = R"(---
apiVersion: inference.networking.k8s.io/v1
kind: InferencePool
metadata: {name: a}
spec: {targetPorts: [{number: 8000}], selector: {matchLabels: {app: a}}}
)";
const std::string kPoolB = R"(---
apiVersion: inference.networking.k8s.io/v1
kind: InferencePool
metadata: {name: b}
spec: {targetPorts: [{number: 8000}], selector: {matchLabels: {app: b}}}
)";

std::uint32_t matched_on(prefix::PrefixIndex& index, std::uint32_t id,
                         const std::vector<std::uint64_t>& blocks) {
  const std::uint32_t ids[] = {id};
  std::uint32_t matched[1] = {};
  index.match(blocks, ids, matched);
  return matched[0];
}

TEST(PrefixIndexes, APoolKeepsItsIndexAcrossReloadsAndLosesWhatLeaves) {
  auto indexes = std::make_shared<PrefixIndexes>();
  Datastore datastore(scheduler_factory({}, indexes), {indexes});
  const std::string two =
      "  - {name: a0, address: \"10.0.0.1:8000\", labels: {app: a}}\n"
      "  - {name: a1, address: \"10.0.0.2:8000\", labels: {app: a}}\n"
      "  - {name: b0, address: \"10.0.1.1:8000\", labels: {app: b}}\n";
  auto first = datastore.reconcile(config_of(two, kPoolA + kPoolB));
  const auto index_a = indexes->for_pool("default/a");
  const auto index_b = indexes->for_pool("default/b");
  const std::vector<std::uint64_t> blocks = {1, 2, 3};
  const std::uint32_t a0 = first->pools[0]->endpoints[0]->id;
  const std::uint32_t a1 = first->pools[0]->endpoints[1]->id;
  index_a->record(a0, blocks);
  index_a->record(a1, blocks);

  // a1 and pool b leave: a keeps its index and a0's entries; a1's are gone; b's index too.
  const std::string one = "  - {name: a0, address: \"10.0.0.1:8000\", labels: {app: a}}\n";
  auto second = datastore.reconcile(config_of(one, kPoolA));
  EXPECT_EQ(indexes->for_pool("default/a"), index_a);
  EXPECT_EQ(matched_on(*index_a, a0, blocks), 3u);
  EXPECT_EQ(matched_on(*index_a, a1, blocks), 0u);
  EXPECT_NE(indexes->for_pool("default/b"), index_b) << "pool b came back with a new index";
  EXPECT_EQ(indexes->stats().entries, 3u);
}

TEST(PrefixIndexes, AnEndpointsShareFollowsItsReportedKvCapacity) {
  auto indexes = std::make_shared<PrefixIndexes>();
  Datastore datastore(scheduler_factory({}, indexes), {indexes});
  auto snap = datastore.reconcile(
      config_of("  - {name: a0, address: \"10.0.0.1:8000\", labels: {app: a}}\n", kPoolA));
  PoolState& pool = *snap->pools[0];
  const auto index = indexes->for_pool(pool.key);
  std::vector<std::uint64_t> blocks;
  for (std::uint64_t i = 1; i <= 10; ++i) blocks.push_back(i);
  index->record(pool.endpoints[0]->id, blocks);
  EXPECT_EQ(index->stats().entries, 10u);

  // 2 KV blocks of 64 tokens hold 8 index blocks of 16 tokens: the share shrinks at once.
  metrics::EndpointMetrics m;
  m.num_blocks = 2;
  m.block_size = 64;
  pool.endpoints[0]->latest.store(
      std::make_shared<const EndpointSample>(EndpointSample{m, TimePoint{}}));
  snap->publish_views();  // as the scraper does: the index hears of the view
  EXPECT_EQ(index->stats().entries, 8u);
}

}  // namespace
}  // namespace infergate::gateway::scheduling

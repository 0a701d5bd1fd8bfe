// A pool's metrics view: the loads from the samples and health flags, the same signals as
// columns, what holds for every endpoint (health, sampling, the oldest scrape), and the
// endpoints of a pool's view.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "gateway/datastore/datastore.hpp"

namespace infergate::gateway {
namespace {

std::shared_ptr<const EndpointSample> sample(double waiting, double kv, TimePoint at) {
  metrics::EndpointMetrics m;
  m.waiting = waiting;
  m.running = waiting + 1;
  m.kv_usage = kv;
  m.lora = metrics::LoraInfo{{"a"}, {}, 2};
  return std::make_shared<const EndpointSample>(EndpointSample{m, at});
}

TEST(MetricsView, ColumnsFollowTheLoads) {
  const TimePoint t(std::chrono::seconds(5));
  auto view = make_metrics_view(
      {sample(3, 0.5, t + std::chrono::seconds(2)), sample(7, 1.7, t), nullptr}, {1, 1, 0});
  ASSERT_EQ(view->loads.size(), 3u);
  const PoolMetricsView::Columns& c = view->columns;
  EXPECT_EQ(c.waiting, (std::vector<double>{3, 7, 0}));
  EXPECT_EQ(c.running, (std::vector<double>{4, 8, 0}));
  // A use above 1 reads as full, in the loads and the columns alike.
  EXPECT_EQ(c.kv_usage, (std::vector<double>{0.5, 1.0, 0}));
  EXPECT_EQ(view->loads[1].kv_usage, 1.0);
  EXPECT_EQ(c.lora[0], view->loads[0].lora);
  EXPECT_EQ(c.lora[2], nullptr);
  EXPECT_EQ(c.lora_room, (std::vector<std::uint8_t>{1, 1, 0}));
  EXPECT_FALSE(view->all_healthy);
  EXPECT_FALSE(view->all_sampled);
  EXPECT_EQ(view->oldest_scrape, t);
}

TEST(MetricsView, EveryEndpointHealthyAndSampled) {
  const TimePoint t(std::chrono::seconds(5));
  auto view = make_metrics_view({sample(1, 0.1, t), sample(2, 0.2, t)}, {1, 1});
  EXPECT_TRUE(view->all_healthy);
  EXPECT_TRUE(view->all_sampled);
  EXPECT_EQ(view->oldest_scrape, t);
  auto empty = make_metrics_view({}, {});
  EXPECT_TRUE(empty->all_healthy);
  EXPECT_TRUE(empty->all_sampled);
}

// A pool's view lists the pool's endpoints and their ids; one made from samples alone lists none.
TEST(MetricsView, APoolsViewListsItsEndpoints) {
  PoolState pool;
  for (std::uint32_t id : {4u, 9u}) {
    pool.endpoints.push_back(std::make_shared<Endpoint>(
        config::EndpointSpec{"ep" + std::to_string(id), "127.0.0.1", 1, 1, "vllm", {}}, id));
  }
  pool.publish_view();
  const auto view = pool.view.load();
  EXPECT_EQ(view->columns.endpoint,
            (std::vector<Endpoint*>{pool.endpoints[0].get(), pool.endpoints[1].get()}));
  EXPECT_EQ(view->columns.id, (std::vector<std::uint32_t>{4, 9}));
  const auto bare = make_metrics_view({nullptr, nullptr}, {1, 1});
  EXPECT_TRUE(bare->columns.endpoint.empty());
  EXPECT_TRUE(bare->columns.id.empty());
}

}  // namespace
}  // namespace infergate::gateway

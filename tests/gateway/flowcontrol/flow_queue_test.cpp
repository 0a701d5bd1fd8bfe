// The waiting room: bands, fairness between flows, FCFS, limits, removal.
#include "gateway/flowcontrol/flow_queue.hpp"

#include <gtest/gtest.h>

namespace infergate::gateway::flowcontrol {
namespace {

std::vector<std::uint64_t> drain(FlowQueue& q) {
  std::vector<std::uint64_t> order;
  while (auto r = q.pop()) order.push_back(r->id);
  return order;
}

TEST(FlowQueue, HighestBandFirstThenRoundRobinBetweenFlowsThenFcfs) {
  FlowQueue q({}, {});
  q.push({1, 0, "a", 10});
  q.push({2, 0, "a", 10});
  q.push({3, 0, "b", 10});
  q.push({4, -1, "a", 10});
  q.push({5, 5, "z", 10});
  q.push({6, 0, "a", 10});
  q.push({7, 0, "c", 10});
  q.push({8, 0, "b", 10});
  EXPECT_EQ(q.highest_priority(), 5);
  // Band 5, then band 0 taking a, b, c in turn (a's oldest first), then band -1.
  EXPECT_EQ(drain(q), (std::vector<std::uint64_t>{5, 1, 3, 7, 2, 8, 6, 4}));
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(q.bytes(), 0u);
}

TEST(FlowQueue, AFlowWithManyRequestsDoesNotStarveOthers) {
  FlowQueue q({}, {});
  for (std::uint64_t i = 1; i <= 100; ++i) q.push({i, 0, "heavy", 1});
  q.push({101, 0, "light", 1});
  EXPECT_EQ(q.pop()->id, 1u);
  EXPECT_EQ(q.pop()->id, 101u) << "the light flow's only request goes second, not 101st";
}

TEST(FlowQueue, LimitsPerBandAndOverall) {
  FlowQueue q({.max_requests = 2, .max_bytes = 100}, {.max_requests = 3, .max_bytes = 1000});
  EXPECT_EQ(q.push({1, 0, "a", 10}), FlowQueue::Push::kQueued);
  EXPECT_EQ(q.push({2, 0, "a", 10}), FlowQueue::Push::kQueued);
  EXPECT_EQ(q.push({3, 0, "b", 10}), FlowQueue::Push::kBandFull);
  EXPECT_EQ(q.push({4, 1, "a", 200}), FlowQueue::Push::kBandFull) << "bytes of one band";
  EXPECT_EQ(q.push({5, 1, "a", 10}), FlowQueue::Push::kQueued);
  EXPECT_EQ(q.push({6, 2, "a", 10}), FlowQueue::Push::kQueueFull);
  EXPECT_EQ(q.size(), 3u);
  EXPECT_EQ(q.bands().at(0).requests, 2u);
  EXPECT_FALSE(q.bands().contains(2)) << "a refused push leaves no empty band behind";
}

TEST(FlowQueue, RemoveTakesARequestOutWhereverItIs) {
  FlowQueue q({}, {});
  q.push({1, 0, "a", 10});
  q.push({2, 0, "b", 10});
  q.push({3, 0, "a", 10});
  EXPECT_TRUE(q.remove(2));
  EXPECT_FALSE(q.remove(2));
  EXPECT_TRUE(q.remove(1));
  EXPECT_EQ(drain(q), (std::vector<std::uint64_t>{3}));
}

}  // namespace
}  // namespace infergate::gateway::flowcontrol

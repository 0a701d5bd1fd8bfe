// The Datastore's packed in-flight counters: zeroed when handed out, next to each other in the
// order the endpoints were made, reused once released, and alive as long as an endpoint holds
// one; the endpoints a Datastore makes count in them, and a pool's view points at them.
#include "gateway/datastore/in_flight_counters.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "config/load_resources.hpp"
#include "gateway/datastore/datastore.hpp"

namespace infergate::gateway {
namespace {

TEST(InFlightCounters, HandedOutZeroedAndPackedInOrder) {
  const auto arena = std::make_shared<InFlightCounters>();
  std::vector<std::shared_ptr<std::atomic<int>>> held;
  for (int i = 0; i < 40; ++i) held.push_back(arena->acquire());
  for (std::size_t i = 0; i < held.size(); ++i) {
    EXPECT_EQ(held[i]->load(), 0);
    if (i > 0) {
      EXPECT_EQ(held[i].get(), held[i - 1].get() + 1) << "counter " << i;
    }
  }
}

TEST(InFlightCounters, AReleasedCounterIsReusedZeroed) {
  const auto arena = std::make_shared<InFlightCounters>();
  auto a = arena->acquire();
  auto b = arena->acquire();
  std::atomic<int>* const where = a.get();
  a->store(7);
  a.reset();
  const auto c = arena->acquire();
  EXPECT_EQ(c.get(), where);
  EXPECT_EQ(c->load(), 0);
  EXPECT_EQ(b->load(), 0);
}

TEST(InFlightCounters, ACounterOutlivesItsArenasLastOtherOwner) {
  auto arena = std::make_shared<InFlightCounters>();
  auto counter = arena->acquire();
  arena.reset();  // the counter keeps the arena
  counter->fetch_add(3);
  EXPECT_EQ(counter->load(), 3);
  counter.reset();  // released into the arena, which goes with it (ASan checks both)
}

TEST(InFlightCounters, ManyChunksStayPut) {
  const auto arena = std::make_shared<InFlightCounters>();
  std::vector<std::shared_ptr<std::atomic<int>>> held;
  for (int i = 0; i < 3000; ++i) {
    held.push_back(arena->acquire());
    held.back()->store(i);
  }
  for (int i = 0; i < 3000; ++i) EXPECT_EQ(held[static_cast<std::size_t>(i)]->load(), i);
}

std::shared_ptr<const config::Config> two_endpoints() {
  config::LoadResult loaded;
  config::load_text(
      "apiVersion: infergate.dev/v1alpha1\nkind: StaticEndpoints\nmetadata: {name: e}\nspec:\n"
      "  endpoints:\n"
      "  - {name: a, address: \"10.0.0.1:8000\", labels: {app: p}}\n"
      "  - {name: b, address: \"10.0.0.2:8000\", labels: {app: p}}\n"
      "---\napiVersion: inference.networking.k8s.io/v1\nkind: InferencePool\nmetadata: {name: p}\n"
      "spec: {targetPorts: [{number: 8000}], selector: {matchLabels: {app: p}}}\n",
      "two.yaml", loaded);
  auto built = config::build_config(std::move(loaded));
  EXPECT_TRUE(built.config) << built.diagnostics.error_text();
  return built.config;
}

// A Datastore's endpoints count in its arena: packed, one after the other, and the pool's view
// points at the very counters the endpoints count in.
TEST(InFlightCounters, ADatastoresEndpointsCountPackedAndTheViewPointsAtThem) {
  Datastore store;
  const auto snapshot = store.reconcile(two_endpoints());
  const PoolState& pool = *snapshot->pools.at(0);
  ASSERT_EQ(pool.endpoints.size(), 2u);
  EXPECT_EQ(&pool.endpoints[1]->in_flight, &pool.endpoints[0]->in_flight + 1);
  pool.endpoints[1]->in_flight.fetch_add(2);
  const auto view = pool.view.load();
  ASSERT_EQ(view->columns.in_flight.size(), 2u);
  EXPECT_EQ(view->columns.in_flight[0], &pool.endpoints[0]->in_flight);
  EXPECT_EQ(view->columns.in_flight[1]->load(), 2);
  // A reload keeps the endpoints, and with them their counts.
  const auto again = store.reconcile(two_endpoints());
  EXPECT_EQ(again->pools.at(0)->endpoints[1]->in_flight.load(), 2);
}

}  // namespace
}  // namespace infergate::gateway

// The datastore under the gateway's threads, for ThreadSanitizer (CI runs this test in a TSan
// build): the control thread reconciles configurations that add and drop an endpoint, a
// scraper-like thread stores samples and publishes views, and worker-like threads read the
// current snapshot, its views and endpoints and count requests in flight.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "config/config.hpp"
#include "config/load_resources.hpp"
#include "gateway/datastore/availability.hpp"
#include "gateway/datastore/datastore.hpp"

namespace infergate::gateway {
namespace {

std::shared_ptr<const config::Config> config_with(int endpoints) {
  std::string yaml =
      "apiVersion: infergate.dev/v1alpha1\nkind: StaticEndpoints\nmetadata: {name: e}\nspec:\n  "
      "endpoints:\n";
  for (int i = 0; i < endpoints; ++i)
    yaml += "  - {name: e" + std::to_string(i) + ", address: \"10.0.0." + std::to_string(i + 1) +
            ":8000\", labels: {app: a}}\n";
  yaml +=
      "---\napiVersion: inference.networking.k8s.io/v1\nkind: InferencePool\nmetadata: {name: "
      "a}\nspec: {targetPorts: [{number: 8000}], selector: {matchLabels: {app: a}}}\n";
  config::LoadResult loaded;
  config::load_text(yaml, "threads.yaml", loaded);
  auto built = config::build_config(std::move(loaded));
  EXPECT_TRUE(built.config) << built.diagnostics.error_text();
  return built.config;
}

TEST(DatastoreThreads, ReconcileScrapeAndReadsRunTogether) {
  const auto two = config_with(2);
  const auto three = config_with(3);
  Datastore datastore;
  std::atomic<std::shared_ptr<const Snapshot>> current{datastore.reconcile(two)};
  std::atomic<bool> stop{false};
  std::atomic<long> reads{0};

  std::thread scraper([&] {
    std::uint64_t n = 0;
    while (!stop) {
      const auto snap = current.load();
      for (const auto& pool : snap->pools) {
        for (const auto& ep : pool->endpoints) {
          metrics::EndpointMetrics m;
          m.waiting = static_cast<double>(++n % 7);
          ep->latest.store(std::make_shared<const EndpointSample>(EndpointSample{m, {}}));
        }
      }
      snap->publish_views();
    }
  });
  std::vector<std::thread> workers;
  for (int w = 0; w < 2; ++w)
    workers.emplace_back([&] {
      while (!stop) {
        const auto snap = current.load();
        for (const auto& pool : snap->pools) {
          const auto view = pool->view.load();
          for (std::size_t i = 0; i < pool->endpoints.size(); ++i) {
            Endpoint& ep = *pool->endpoints[i];
            if (!usable_for_picking(view.get(), i, ep, TimePoint{})) continue;
            ep.in_flight.fetch_add(1);
            if (const auto sample = ep.latest.load()) (void)sample->metrics.waiting;
            ep.in_flight.fetch_sub(1);
          }
        }
        ++reads;
      }
    });
  for (int i = 0; i < 200; ++i) current.store(datastore.reconcile(i % 2 ? three : two));
  // Every thread has run alongside the reloads before they stop (bounded wait).
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (reads.load() < 100 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::yield();
  EXPECT_GE(reads.load(), 100);
  stop = true;
  scraper.join();
  for (auto& t : workers) t.join();
  const auto last = current.load();
  ASSERT_EQ(last->pools.size(), 1u);
  for (const auto& ep : last->pools[0]->endpoints) EXPECT_EQ(ep->in_flight.load(), 0);
}

}  // namespace
}  // namespace infergate::gateway

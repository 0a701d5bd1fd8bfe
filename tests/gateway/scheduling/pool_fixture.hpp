// A pool of in-memory endpoints with chosen metrics, for the scheduler and plugin tests.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/clock.hpp"
#include "common/random.hpp"
#include "gateway/datastore/datastore.hpp"
#include "gateway/scheduling/framework/profile_scheduler.hpp"
#include "gateway/scheduling/prefix/prefix_index.hpp"

namespace infergate::gateway::testing {

struct LoadSpec {  // one endpoint's metrics, as TestPool::set publishes them
  double waiting = 0;
  double running = 0;
  double kv = 0;
  std::vector<std::string> running_adapters{};
  std::vector<std::string> waiting_adapters{};
  int max_lora = 0;  // 0: no LoRA info
};

struct TestPool {
  explicit TestPool(std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) {
      config::EndpointSpec spec{"ep" + std::to_string(i),
                                "127.0.0.1",
                                static_cast<std::uint16_t>(9000 + i),
                                static_cast<std::uint16_t>(9000 + i),
                                "vllm",
                                {}};
      pool.endpoints.push_back(std::make_shared<Endpoint>(spec, static_cast<std::uint32_t>(i + 1)));
    }
    pool.publish_view();
  }

  void set(std::size_t i, const LoadSpec& load) {
    metrics::EndpointMetrics m;
    m.waiting = load.waiting;
    m.running = load.running;
    m.kv_usage = load.kv;
    if (load.max_lora > 0)
      m.lora = metrics::LoraInfo{load.running_adapters, load.waiting_adapters, load.max_lora};
    pool.endpoints[i]->latest.store(
        std::make_shared<const EndpointSample>(EndpointSample{m, clock.now()}));
    pool.publish_view();
  }

  std::size_t index_of(const Endpoint* ep) const {
    for (std::size_t i = 0; i < pool.endpoints.size(); ++i)
      if (pool.endpoints[i].get() == ep) return i;
    return pool.endpoints.size();
  }

  PoolState pool;
  // The pool's prefix index, as the scheduling layer's PrefixIndexes would keep it.
  std::shared_ptr<scheduling::prefix::PrefixIndex> prefix_index =
      std::make_shared<scheduling::prefix::PrefixIndex>();
  ManualClock clock{std::chrono::seconds(1)};
  Mt19937Random random{42};
};

}  // namespace infergate::gateway::testing

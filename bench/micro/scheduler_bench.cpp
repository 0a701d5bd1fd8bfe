// One whole scheduling decision with the `default` profile (queue, KV-cache, prefix-cache,
// LoRA-affinity and running-requests scorers, max-score picker) over 100 endpoints, for a
// 16,000-character prompt, against one XXH64 pass over the same prompt (the floor: a decision
// must read the prompt once). The decision includes building the candidates from the pool's
// metrics view and live counters, hashing the prompt's 250 blocks, matching them in a warmed,
// full prefix index, scoring, picking and recording the prompt for the chosen endpoint.
//
// The index is warmed by conversations that share 40 system prompts (3,200 characters) and go
// on for 12,800 characters of their own, each recorded on one endpoint, until every endpoint
// holds its capacity of 31,250 blocks and has evicted for a while.
#include <benchmark/benchmark.h>
#include <xxhash.h>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "common/clock.hpp"
#include "common/random.hpp"
#include "gateway/datastore/datastore.hpp"
#include "gateway/scheduling/framework/build.hpp"
#include "gateway/scheduling/framework/named_profiles.hpp"
#include "gateway/scheduling/prefix/prefix_index.hpp"
#include "gateway/scheduling/prefix/prompt_blocks.hpp"

namespace {
using namespace infergate;
using namespace infergate::gateway;

constexpr std::size_t kEndpoints = 100;
constexpr std::size_t kCapacity = 31'250;
constexpr char kModel[] = "meta-llama/Llama-3.1-8B-Instruct";

std::string text(std::mt19937_64& rng, std::size_t n) {
  static constexpr char kLetters[] = "abcdefghijklmnopqrstuvwxyz     ";
  std::string s(n, ' ');
  for (char& c : s) c = kLetters[rng() % (sizeof kLetters - 1)];
  return s;
}

struct Fleet {
  PoolState pool;
  std::shared_ptr<scheduling::prefix::PrefixIndex> index;
  ManualClock clock{std::chrono::seconds(10)};
  Mt19937Random random{1};
  std::shared_ptr<Scheduler> scheduler;
  std::vector<std::string> recent;  // prompts recorded last, to query

  Fleet() {
    std::mt19937_64 rng(7);
    for (std::size_t i = 0; i < kEndpoints; ++i) {
      config::EndpointSpec spec{"ep" + std::to_string(i),
                                "10.0.0.1",
                                static_cast<std::uint16_t>(8000 + i),
                                static_cast<std::uint16_t>(8000 + i),
                                "vllm",
                                {}};
      auto ep = std::make_shared<Endpoint>(spec, static_cast<std::uint32_t>(i + 1));
      metrics::EndpointMetrics m;
      m.waiting = static_cast<double>(rng() % 8);
      m.running = static_cast<double>(rng() % 64);
      m.kv_usage = static_cast<double>(rng() % 100) / 100.0;
      m.lora = metrics::LoraInfo{{"adapter-" + std::to_string(i % 7)}, {}, 4};
      ep->latest.store(std::make_shared<const EndpointSample>(EndpointSample{m, clock.now()}));
      ep->in_flight = static_cast<int>(rng() % 16);
      pool.endpoints.push_back(std::move(ep));
    }
    index = std::make_shared<scheduling::prefix::PrefixIndex>(
        scheduling::prefix::PrefixIndexOptions{kCapacity});
    pool.publish_view();

    std::vector<std::string> systems;
    for (int s = 0; s < 40; ++s) systems.push_back(text(rng, 3200));
    std::vector<std::uint64_t> blocks;
    const std::size_t target = kEndpoints * kCapacity;
    for (std::size_t c = 0, extra = 0; extra < 2000; ++c) {
      std::string prompt = systems[(rng() % 40) * (rng() % 40) / 40] + text(rng, 12800);
      scheduling::prefix::hash_prompt_blocks(kModel, prompt, {}, blocks);
      index->record(static_cast<std::uint32_t>(c % kEndpoints + 1), blocks);
      if (extra > 0 || index->stats().entries >= target) ++extra;
      if (recent.size() == 256) recent.erase(recent.begin());
      recent.push_back(std::move(prompt));
    }
    config::Config cfg;
    cfg.picker = scheduling::named_profile("default");
    cfg.pools.emplace_back();
    config::Diagnostics diag;
    scheduler = std::make_shared<scheduling::ProfileScheduler>(
        scheduling::build_pool_profile(cfg, 0, {}, diag), scheduling::SchedulerOptions{}, index);
  }
};

Fleet& fleet() {
  static Fleet f;
  return f;
}

double min_of(const std::vector<double>& v) { return *std::min_element(v.begin(), v.end()); }

void BM_Xxh64Pass(benchmark::State& state) {
  const std::string& prompt = fleet().recent.back();
  for (auto _ : state) benchmark::DoNotOptimize(XXH64(prompt.data(), prompt.size(), 0));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * prompt.size()));
}
BENCHMARK(BM_Xxh64Pass)->ComputeStatistics("min", min_of);

// Cycles over 256 recent prompts, so the index's buckets mostly come from memory, as on a
// gateway where other requests' decisions run in between. Arg 0: the decision (pick); arg 1:
// the decision and its dispatch (the prompt's blocks recorded for the chosen endpoint).
void BM_DefaultProfileDecision(benchmark::State& state) {
  Fleet& f = fleet();
  const bool record = state.range(0) != 0;
  std::size_t i = 0;
  for (auto _ : state) {
    const std::string& prompt = f.recent[i++ % f.recent.size()];
    const SchedulingRequest request{kModel, prompt, 4000};
    auto session = f.scheduler->begin(f.pool, request, {f.random, f.clock});
    auto picked = session->pick({});
    if (record) session->dispatched(*picked.endpoint);
    benchmark::DoNotOptimize(picked.endpoint);
  }
  state.counters["memory_bytes_per_entry"] =
      static_cast<double>(f.index->stats().memory_bytes) /
      static_cast<double>(std::max<std::size_t>(1, f.index->stats().entries));
}
BENCHMARK(BM_DefaultProfileDecision)
    ->ComputeStatistics("min", min_of)
    ->ArgName("record")
    ->Arg(0)
    ->Arg(1);

}  // namespace

BENCHMARK_MAIN();

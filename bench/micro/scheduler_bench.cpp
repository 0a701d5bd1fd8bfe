// One whole scheduling decision with the `default` profile (queue, KV-cache, prefix-cache,
// LoRA-affinity and running-requests scorers, max-score picker), against one XXH64 pass over
// the same prompt (the floor: a decision must read the prompt once). The decision includes
// building the candidates from the pool's metrics view and live counters, hashing the prompt's
// blocks (at most 256 of 64 characters: 16 KB), matching them in a warmed, full prefix index,
// scoring and picking; with `record`, also recording the prompt for the chosen endpoint.
//
// Series: 8, 100 and 500 endpoints; prompts of 4,000, 16,000 and 400,000 characters. The goal
// (issue 13): a decision within 10 times one XXH64 pass, for 8 and 500 endpoints with 4 KB and
// 400 KB prompts; the 100-endpoint, 16 KB series is issue 4's. A round-robin decision (no
// scorer) shows what building the candidates alone costs, and the prefix match alone (hashing and
// matching, no candidates) what the prefix index costs. After the runs, a table gives each
// decision's ratio to the XXH64 pass over a prompt of its length (CPU time, medians when
// repeated).
//
// Each fleet's index is warmed by conversations that share 40 system prompts (3,200 characters)
// and go on for 12,800 characters of their own, each recorded on one endpoint, until every
// endpoint holds its capacity of 31,250 blocks and 20 conversations an endpoint more have
// evicted. The queries cycle over the 256 conversations recorded last: cut to 4,000
// characters, whole (16,000), or followed by 384,000 more (the same for all; no decision reads
// past 16 KB).
#include <benchmark/benchmark.h>
#include <xxhash.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <memory>
#include <ostream>
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

constexpr std::size_t kCapacity = 31'250;
constexpr std::size_t kRecent = 256;
constexpr std::size_t kConversationChars = 16'000;
constexpr char kModel[] = "meta-llama/Llama-3.1-8B-Instruct";

std::string text(std::mt19937_64& rng, std::size_t n) {
  static constexpr char kLetters[] = "abcdefghijklmnopqrstuvwxyz     ";
  std::string s(n, ' ');
  for (char& c : s) c = kLetters[rng() % (sizeof kLetters - 1)];
  return s;
}

struct Fleet {
  PoolState pool;
  std::shared_ptr<scheduling::prefix::PrefixIndex> index;  // the pool's (PrefixIndexes keeps it)
  ManualClock clock{std::chrono::seconds(10)};
  Mt19937Random random{1};
  std::shared_ptr<Scheduler> scheduler;              // the `default` profile
  std::shared_ptr<Scheduler> round_robin_scheduler;  // no scorer: the candidates' cost
  std::vector<std::string> recent;  // conversations recorded last, 16,000 characters each
  std::map<std::size_t, std::vector<std::string>> queries;  // by length: built on first use

  explicit Fleet(std::size_t endpoints) {
    std::mt19937_64 rng(7);
    // As the Datastore makes them: their in-flight counters packed.
    const auto counters = std::make_shared<InFlightCounters>();
    for (std::size_t i = 0; i < endpoints; ++i) {
      config::EndpointSpec spec{"ep" + std::to_string(i),
                                "10.0.0.1",
                                static_cast<std::uint16_t>(8000 + i),
                                static_cast<std::uint16_t>(8000 + i),
                                "vllm",
                                {}};
      auto ep =
          std::make_shared<Endpoint>(spec, static_cast<std::uint32_t>(i + 1), counters->acquire());
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
    const std::size_t target = endpoints * kCapacity;
    for (std::size_t c = 0, extra = 0; extra < 20 * endpoints; ++c) {
      std::string prompt = systems[(rng() % 40) * (rng() % 40) / 40] +
                           text(rng, kConversationChars - systems.front().size());
      scheduling::prefix::hash_prompt_blocks(kModel, prompt, {}, blocks);
      index->record(static_cast<std::uint32_t>(c % endpoints + 1), blocks);
      if (extra > 0 || (c % 64 == 0 && index->stats().entries >= target)) ++extra;
      if (recent.size() == kRecent) recent.erase(recent.begin());
      recent.push_back(std::move(prompt));
    }
    scheduler = build_scheduler("default", index);
    round_robin_scheduler = build_scheduler("round-robin", index);
  }

  static std::shared_ptr<Scheduler> build_scheduler(
      const std::string& profile, std::shared_ptr<scheduling::prefix::PrefixIndex> index) {
    config::Config cfg;
    cfg.picker = scheduling::named_profile(profile);
    cfg.pools.emplace_back();
    config::Diagnostics diag;
    return std::make_shared<scheduling::ProfileScheduler>(
        scheduling::build_pool_profile(cfg, 0, {}, diag), scheduling::SchedulerOptions{},
        std::move(index));
  }

  const std::vector<std::string>& prompts(std::size_t chars) {
    auto [it, added] = queries.try_emplace(chars);
    if (!added) return it->second;
    std::mt19937_64 rng(11);
    const std::string tail =
        chars > kConversationChars ? text(rng, chars - kConversationChars) : std::string();
    for (const std::string& conversation : recent)
      it->second.push_back(chars > kConversationChars ? conversation + tail
                                                      : conversation.substr(0, chars));
    return it->second;
  }
};

Fleet& fleet(std::size_t endpoints) {
  static std::map<std::size_t, std::unique_ptr<Fleet>> fleets;
  auto& f = fleets[endpoints];
  if (!f) f = std::make_unique<Fleet>(endpoints);
  return *f;
}

double min_of(const std::vector<double>& v) { return *std::min_element(v.begin(), v.end()); }

// The baseline: a prompt of the same length (XXH64's speed does not depend on the text).
void BM_Xxh64Pass(benchmark::State& state) {
  const std::size_t chars = static_cast<std::size_t>(state.range(0));
  const std::string& prompt = fleet(8).prompts(chars).back();
  for (auto _ : state) benchmark::DoNotOptimize(XXH64(prompt.data(), prompt.size(), 0));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * prompt.size()));
  state.counters["prompt_chars"] = static_cast<double>(chars);
}
BENCHMARK(BM_Xxh64Pass)
    ->ComputeStatistics("min", min_of)
    ->ArgName("prompt_chars")
    ->Arg(4'000)
    ->Arg(16'000)
    ->Arg(400'000);

// Cycles over the 256 recent prompts, so the index's buckets mostly come from memory, as on a
// gateway where other requests' decisions run in between.
void run_decisions(benchmark::State& state, Fleet& f, Scheduler& scheduler, std::size_t chars,
                   bool record) {
  const std::vector<std::string>& prompts = f.prompts(chars);
  std::size_t i = 0;
  for (auto _ : state) {
    const SchedulingRequest request{kModel, prompts[i++ % prompts.size()],
                                    static_cast<long>(chars / 4)};
    auto session = scheduler.begin(f.pool, request, {f.random, f.clock});
    auto picked = session->pick({});
    if (record) session->dispatched(*picked.endpoint);
    benchmark::DoNotOptimize(picked.endpoint);
  }
  state.counters["endpoints"] = static_cast<double>(f.pool.endpoints.size());
  state.counters["prompt_chars"] = static_cast<double>(chars);
}

// Arg record 0: the decision (pick); 1: the decision and its dispatch (the prompt's blocks
// recorded for the chosen endpoint).
void BM_DefaultProfileDecision(benchmark::State& state) {
  Fleet& f = fleet(static_cast<std::size_t>(state.range(0)));
  run_decisions(state, f, *f.scheduler, static_cast<std::size_t>(state.range(1)),
                state.range(2) != 0);
  state.counters["memory_bytes_per_entry"] =
      static_cast<double>(f.index->stats().memory_bytes) /
      static_cast<double>(std::max<std::size_t>(1, f.index->stats().entries));
}
BENCHMARK(BM_DefaultProfileDecision)
    ->ComputeStatistics("min", min_of)
    ->ArgNames({"endpoints", "prompt_chars", "record"})
    ->Apply([](benchmark::internal::Benchmark* b) {
      for (const int record : {0, 1}) {
        for (const int endpoints : {8, 500}) {
          for (const int chars : {4'000, 400'000}) b->Args({endpoints, chars, record});
        }
      }
      b->Args({100, 16'000, 0})->Args({100, 16'000, 1});
    });

// The floor under any profile: a round-robin decision builds the candidates (metrics view,
// live counters, availability) and scores nothing.
void BM_RoundRobinDecision(benchmark::State& state) {
  Fleet& f = fleet(static_cast<std::size_t>(state.range(0)));
  run_decisions(state, f, *f.round_robin_scheduler, static_cast<std::size_t>(state.range(1)),
                false);
}
BENCHMARK(BM_RoundRobinDecision)
    ->ComputeStatistics("min", min_of)
    ->ArgNames({"endpoints", "prompt_chars"})
    ->Args({8, 4'000})
    ->Args({500, 4'000});

// The part of a decision that grows with the prompt and the index rather than with the scorers:
// hashing the prompt's blocks and matching them for every endpoint of the pool (the prefix
// index's walk and the candidates' slots). A profile cannot cost less than this.
void BM_PrefixMatchAlone(benchmark::State& state) {
  Fleet& f = fleet(static_cast<std::size_t>(state.range(0)));
  const std::size_t chars = static_cast<std::size_t>(state.range(1));
  const std::vector<std::string>& prompts = f.prompts(chars);
  std::vector<std::uint32_t> ids;
  for (const auto& ep : f.pool.endpoints) ids.push_back(ep->id);
  std::vector<std::uint32_t> matched(ids.size());
  std::vector<std::uint64_t> blocks;
  std::size_t i = 0;
  for (auto _ : state) {
    scheduling::prefix::hash_prompt_blocks(kModel, prompts[i++ % prompts.size()], {}, blocks);
    f.index->match(blocks, ids, matched);
    benchmark::DoNotOptimize(matched.data());
  }
  state.counters["endpoints"] = static_cast<double>(ids.size());
  state.counters["prompt_chars"] = static_cast<double>(chars);
}
BENCHMARK(BM_PrefixMatchAlone)
    ->ComputeStatistics("min", min_of)
    ->ArgNames({"endpoints", "prompt_chars"})
    ->Args({8, 4'000})
    ->Args({500, 4'000});

// The console output, then each decision's ratio to the XXH64 pass over a prompt of its length,
// from the runs' CPU times (the median when repeated).
class RatioReporter final : public benchmark::ConsoleReporter {
 public:
  RatioReporter() : ConsoleReporter(OO_None) {}

  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const Run& run : runs) {
      if (run.error_occurred || !run.counters.count("prompt_chars")) continue;
      if (run.run_type == Run::RT_Aggregate && run.aggregate_name != "median") continue;
      const double ns =
          run.GetAdjustedCPUTime() * 1e9 / benchmark::GetTimeUnitMultiplier(run.time_unit);
      const auto chars = static_cast<std::size_t>(run.counters.at("prompt_chars").value);
      if (run.run_name.function_name == "BM_Xxh64Pass") {
        xxh64_ns_[chars] = ns;
      } else {
        decisions_.push_back({run.run_name.str(), chars, ns});
      }
    }
  }

  void Finalize() override {
    std::ostream& out = GetOutputStream();
    char line[160];
    std::snprintf(line, sizeof line, "\n%-60s %12s %12s %8s\n", "decision", "CPU ns", "XXH64 ns",
                  "ratio");
    out << line;
    for (const Decision& d : decisions_) {
      const auto base = xxh64_ns_.find(d.prompt_chars);
      if (base == xxh64_ns_.end()) continue;
      std::snprintf(line, sizeof line, "%-60s %12.0f %12.0f %8.2f\n", d.name.c_str(), d.ns,
                    base->second, d.ns / base->second);
      out << line;
    }
    ConsoleReporter::Finalize();
  }

 private:
  struct Decision {
    std::string name;
    std::size_t prompt_chars;
    double ns;
  };
  std::map<std::size_t, double> xxh64_ns_;
  std::vector<Decision> decisions_;
};

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  RatioReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  return 0;
}

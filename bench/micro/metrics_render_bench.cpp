// What one /metrics page of the simulator costs to render. A fleet of simulated replicas is
// scraped every 50 ms by every gateway in a benchmark, on the simulator's one I/O thread, so
// rendering must stay a few microseconds per page: one string, appended to, no streams.
#include <benchmark/benchmark.h>

#include <string>

#include "sim/server/replica.hpp"

namespace {

using infergate::TimePoint;
using namespace infergate::sim;

struct Noop : RequestObserver {
  void on_token(std::size_t, TimePoint) override {}
  void on_finished(const RequestResult&) override {}
};

// A replica that has served a few hundred requests, so histograms hold counts of every size,
// with some running and some waiting now.
struct BusyReplica {
  explicit BusyReplica(MetricsFlavor flavor) : replica(options(flavor), TimePoint{0}) {
    TimePoint now{0};
    for (int i = 0; i < 300; ++i) {
      submit(i, now);
      if (const auto step = replica.engine().begin_step(now)) {
        now += *step;
        replica.engine().end_step(now);
      }
    }
    for (int i = 0; i < 8; ++i) submit(i, now);
    replica.engine().begin_step(now);
  }

  static ReplicaOptions options(MetricsFlavor flavor) {
    ReplicaOptions o;
    o.model = "meta-llama/Llama-3.1-8B-Instruct";
    o.flavor = flavor;
    o.engine.profile = *find_gpu_profile("tiny");
    o.engine.profile.timing.request_overhead = {};
    o.enable_lora = true;
    o.engine.max_loras = 2;
    return o;
  }

  void submit(int i, TimePoint now) {
    EngineRequest req;
    req.prompt.assign(40 + static_cast<std::size_t>(i % 7) * 10, static_cast<TokenId>(i));
    req.output_tokens = 5 + i % 11;
    req.observer = &observer;
    req.lora = i % 3 == 0 ? "sql" : "";
    replica.engine().submit(std::move(req), now);
  }

  Noop observer;
  Replica replica;
};

void render(benchmark::State& state, MetricsFlavor flavor) {
  const BusyReplica busy(flavor);
  std::size_t bytes = 0;
  for (auto _ : state) {
    std::string page = render_metrics(busy.replica, 1700000000.5);
    bytes += page.size();
    benchmark::DoNotOptimize(page);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(bytes));
}

void BM_RenderVllm(benchmark::State& state) { render(state, MetricsFlavor::kVllm); }
void BM_RenderSglang(benchmark::State& state) { render(state, MetricsFlavor::kSglang); }
void BM_RenderTrtllm(benchmark::State& state) { render(state, MetricsFlavor::kTrtllm); }

}  // namespace

BENCHMARK(BM_RenderVllm);
BENCHMARK(BM_RenderSglang);
BENCHMARK(BM_RenderTrtllm);
BENCHMARK_MAIN();

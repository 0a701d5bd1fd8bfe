// What accounting a request costs its worker: the request families (RequestMetrics: the series
// lookup when a request is resolved, the running gauge, the counters and histograms when it
// ends; once with one series, once spread over 200 (model, fairness) series) and the access
// log's line. The baseline in the same run: one uncontended mutex lock and unlock, the floor of
// any shared per-request accounting.
#include <benchmark/benchmark.h>

#include <mutex>
#include <string>
#include <vector>

#include "gateway/lifecycle/access_log.hpp"
#include "gateway/lifecycle/request_context.hpp"
#include "gateway/lifecycle/request_metrics.hpp"

namespace {

using infergate::gateway::RequestMetrics;
using infergate::gateway::RequestRecord;

RequestRecord streamed_record(std::string model, std::string flow) {
  RequestRecord r;
  r.model = model;
  r.target_model = std::move(model);
  r.flow = std::move(flow);
  r.status = 200;
  r.streamed = true;
  r.request_bytes = 4096;
  r.response_bytes = 20000;
  r.usage = infergate::gateway::Usage{1000, 100, 500};
  r.ttft = std::chrono::milliseconds(40);
  r.total = std::chrono::milliseconds(900);
  for (int i = 0; i < 100; ++i) r.itl.observe(0.008);
  return r;
}

void BM_MutexBaseline(benchmark::State& state) {
  std::mutex mu;
  long n = 0;
  for (auto _ : state) {
    std::lock_guard lock(mu);
    benchmark::DoNotOptimize(++n);
  }
}
BENCHMARK(BM_MutexBaseline);

void BM_RequestAccounted(benchmark::State& state) {
  RequestMetrics metrics;
  std::vector<RequestRecord> records;
  for (int i = 0; i < state.range(0); ++i)
    records.push_back(
        streamed_record("model-" + std::to_string(i % 20), "tenant-" + std::to_string(i / 20)));
  std::size_t i = 0;
  for (auto _ : state) {
    RequestRecord& r = records[i++ % records.size()];
    r.series = metrics.series(r.model, r.target_model, r.flow, r.priority);
    RequestMetrics::Running running(r.series);
    running.release();
    metrics.finished(r);
  }
}
BENCHMARK(BM_RequestAccounted)->Arg(1)->Arg(200);

// One access-log line, formatted (the worker's share of the log; the writer thread's is apart).
void BM_AccessLogLine(benchmark::State& state) {
  RequestRecord r = streamed_record("food-review", "default-flow");
  r.request_id = "0af7651916cd43dd8448eb211c80319c";
  r.trace_id = "0af7651916cd43dd8448eb211c80319c";
  r.pool = "default/llama3-8b";
  r.endpoint = "10.0.0.7:8000";
  r.method = "POST";
  r.path = "/v1/chat/completions";
  r.attempts = 1;
  std::string line;
  const auto now = std::chrono::system_clock::now();
  for (auto _ : state) {
    line.clear();
    infergate::gateway::append_access_log_line(line, r, infergate::gateway::AccessLogFormat::kJson,
                                               now);
    benchmark::DoNotOptimize(line.data());
  }
}
BENCHMARK(BM_AccessLogLine);

}  // namespace

BENCHMARK_MAIN();

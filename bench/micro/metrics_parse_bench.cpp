// What one scrape costs to read: extract_metrics() on ~20 KB vLLM pages. The endpoint scraper
// reads 500 endpoints every 50 ms (10,000 pages/s) within a quarter of a core, HTTP included,
// so a page must take well under 8 microseconds. Baselines: one memchr pass over the page, and
// the strict parse of every line (SampleScanner::every_metric).
#include <benchmark/benchmark.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <new>
#include <sstream>
#include <string>
#include <variant>

#include "metrics/engine_metrics.hpp"
#include "metrics/prometheus_text.hpp"

// Counts heap allocations, to show that a page costs a constant few (none without LoRA).
namespace {
std::atomic<std::size_t> g_allocations{0};
}  // namespace

void* operator new(std::size_t size) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace {

using infergate::metrics::EndpointMetrics;
using infergate::metrics::EngineKind;
using infergate::metrics::extract_metrics;

std::string read_fixture(const char* relative) {
  std::ifstream in(std::string(INFERGATE_FIXTURES) + "/metrics/" + relative, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  if (out.str().empty()) {
    std::fprintf(stderr, "cannot read fixture %s\n", relative);
    std::abort();
  }
  return out.str();
}

// A vLLM V1 server's whole page (facebook/opt-125m), about 21 KB, as captured.
const std::string& datadog_page() {
  static const std::string page = read_fixture("vllm/datadog-integrations-core_vllm_metrics.txt");
  return page;
}

// The V0 engine's page (4.4 KB, with LoRA info) grown to ~20 KB: its model_name series repeated
// for further models, as a server with several served names (or data-parallel engines) has.
const std::string& multi_model_page() {
  static const std::string page = [] {
    const std::string base =
        read_fixture("vllm/aibrix-docs_vllm-v0-engine_qwen2.5-coder-1.5b_partial.txt");
    const std::string model = "model_name=\"Qwen/Qwen2.5-Coder-1.5B-Instruct\"";
    std::string out = base;
    for (int copy = 1; out.size() < 20000; ++copy) {
      std::istringstream lines(base);
      std::string line;
      while (std::getline(lines, line)) {
        const auto at = line.find(model);
        if (at == std::string::npos) continue;
        line.replace(at, model.size(), "model_name=\"tenant-" + std::to_string(copy) + "/model\"");
        out += line;
        out += '\n';
      }
    }
    return out;
  }();
  return page;
}

void run_extract(benchmark::State& state, const std::string& page) {
  const auto check = extract_metrics(EngineKind::kVllm, page);
  if (!std::holds_alternative<EndpointMetrics>(check)) {
    state.SkipWithError("the page does not extract");
    return;
  }
  const std::size_t before = g_allocations.load();
  for (auto _ : state) {
    auto result = extract_metrics(EngineKind::kVllm, page);
    benchmark::DoNotOptimize(result);
  }
  const auto allocations = static_cast<double>(g_allocations.load() - before);
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * page.size()));
  state.counters["page_bytes"] = static_cast<double>(page.size());
  state.counters["allocs_per_page"] = allocations / static_cast<double>(state.iterations());
}

void BM_ExtractVllmDatadogPage(benchmark::State& state) { run_extract(state, datadog_page()); }
BENCHMARK(BM_ExtractVllmDatadogPage);

void BM_ExtractVllmMultiModelPage(benchmark::State& state) {
  run_extract(state, multi_model_page());
}
BENCHMARK(BM_ExtractVllmMultiModelPage);

// Lower bound: find every line end, nothing else.
void BM_MemchrLinesBaseline(benchmark::State& state) {
  const std::string& page = datadog_page();
  for (auto _ : state) {
    std::size_t lines = 0;
    const char* p = page.data();
    const char* const end = p + page.size();
    while (const void* nl = std::memchr(p, '\n', static_cast<std::size_t>(end - p))) {
      p = static_cast<const char*>(nl) + 1;
      ++lines;
    }
    benchmark::DoNotOptimize(lines);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * page.size()));
}
BENCHMARK(BM_MemchrLinesBaseline);

// For comparison: parsing every line strictly, labels and values included.
void BM_ScanEveryMetricDatadogPage(benchmark::State& state) {
  const std::string& page = datadog_page();
  for (auto _ : state) {
    auto scanner = infergate::metrics::SampleScanner::every_metric(page);
    infergate::metrics::Sample sample;
    double sum = 0;
    while (scanner.next(sample) == infergate::metrics::SampleScanner::Status::kSample) {
      sum += sample.value;
    }
    benchmark::DoNotOptimize(sum);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * page.size()));
}
BENCHMARK(BM_ScanEveryMetricDatadogPage);

}  // namespace

BENCHMARK_MAIN();

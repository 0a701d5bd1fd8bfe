// The real metric dumps under the shared fixtures: vLLM and Triton TRT-LLM pages, and the
// upstream endpoint picker's golden /metrics files. Values asserted here were read off the
// files by hand.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "fixture.hpp"
#include "metrics/engine_metrics.hpp"
#include "metrics/prometheus_text.hpp"

namespace infergate::metrics {
namespace {

using testing::fixture_path;
using testing::read_file;
using testing::read_fixture;

struct Validation {
  std::size_t samples = 0;
  ParseError error;
};

Validation validate(std::string_view page) {
  auto scanner = SampleScanner::every_metric(page);
  Validation v;
  Sample s;
  while (scanner.next(s) == SampleScanner::Status::kSample) ++v.samples;
  v.error = scanner.error();
  return v;
}

EndpointMetrics extract_ok(EngineKind engine, std::string_view page) {
  auto result = extract_metrics(engine, page);
  if (const auto* error = std::get_if<MetricsError>(&result)) {
    ADD_FAILURE() << error->message;
    return {};
  }
  return std::get<EndpointMetrics>(std::move(result));
}

std::string extract_error(EngineKind engine, std::string_view page) {
  const auto result = extract_metrics(engine, page);
  if (const auto* error = std::get_if<MetricsError>(&result)) return error->message;
  ADD_FAILURE() << "expected an error";
  return {};
}

// Replaces the one occurrence of `from` in `text`.
std::string replace_once(std::string text, std::string_view from, std::string_view to) {
  const auto at = text.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  if (at != std::string::npos) text.replace(at, from.size(), to);
  return text;
}

TEST(MetricsFixtures, UpstreamPickerGoldenFilesAreValidPrometheusText) {
  std::size_t files = 0;
  for (const char* dir : {"gie-epp-v0.5.1", "gie-epp-v1.5.0"}) {
    for (const auto& entry : std::filesystem::directory_iterator(fixture_path(dir))) {
      const std::string page = read_file(entry.path().string());
      ASSERT_FALSE(page.empty()) << entry.path();
      const auto v = validate(page);
      EXPECT_TRUE(v.error.reason.empty())
          << entry.path() << ":" << v.error.line << ": " << v.error.reason;
      EXPECT_GT(v.samples, 0u) << entry.path();
      ++files;
    }
  }
  EXPECT_GE(files, 40u);
}

TEST(MetricsFixtures, EngineDumpsAreValidPrometheusText) {
  for (const char* file : {"vllm/datadog-integrations-core_vllm_metrics.txt",
                           "vllm/aibrix-docs_vllm-v0-engine_qwen2.5-coder-1.5b_partial.txt",
                           "trtllm/tensorrtllm_backend-readme_nv_inference_base_triton.txt",
                           "trtllm/tensorrtllm_backend-readme_nv_trt_llm_inflight_batcher.txt",
                           "trtllm/tensorrtllm_backend-readme_nv_trt_llm_v1_fields.txt"}) {
    const std::string page = read_fixture(file);
    ASSERT_FALSE(page.empty()) << file;
    const auto v = validate(page);
    EXPECT_TRUE(v.error.reason.empty()) << file << ":" << v.error.line << ": " << v.error.reason;
    EXPECT_GT(v.samples, 0u) << file;
  }
}

// vLLM 0.x with the V1 engine (facebook/opt-125m): both KV names, a cache_config_info, no LoRA.
TEST(MetricsFixtures, VllmDatadogDump) {
  const std::string page = read_fixture("vllm/datadog-integrations-core_vllm_metrics.txt");
  const auto m = extract_ok(EngineKind::kVllm, page);
  EXPECT_EQ(m.waiting, 0);
  EXPECT_EQ(m.running, 0);
  EXPECT_EQ(m.kv_usage, 0.0);
  EXPECT_EQ(m.block_size, 16);
  EXPECT_EQ(m.num_blocks, 7281);
  EXPECT_FALSE(m.lora);
}

// The same page with live values: the newer KV name wins over the older one.
TEST(MetricsFixtures, VllmDatadogDumpWithLoadPrefersKvCacheUsagePerc) {
  std::string page = read_fixture("vllm/datadog-integrations-core_vllm_metrics.txt");
  page = replace_once(page, "vllm:num_requests_waiting{model_name=\"facebook/opt-125m\"} 0.0",
                      "vllm:num_requests_waiting{model_name=\"facebook/opt-125m\"} 12.0");
  page = replace_once(page, "vllm:num_requests_running{model_name=\"facebook/opt-125m\"} 0.0",
                      "vllm:num_requests_running{model_name=\"facebook/opt-125m\"} 3.0");
  page = replace_once(page, "vllm:gpu_cache_usage_perc{model_name=\"facebook/opt-125m\"} 0.0",
                      "vllm:gpu_cache_usage_perc{model_name=\"facebook/opt-125m\"} 0.9");
  page = replace_once(page, "vllm:kv_cache_usage_perc{model_name=\"facebook/opt-125m\"} 0.0",
                      "vllm:kv_cache_usage_perc{model_name=\"facebook/opt-125m\"} 0.42");
  const auto m = extract_ok(EngineKind::kVllm, page);
  EXPECT_EQ(m.waiting, 12);
  EXPECT_EQ(m.running, 3);
  EXPECT_EQ(m.kv_usage, 0.42);
}

// vLLM V0 engine (Qwen2.5-Coder-1.5B): only the older KV name, LoRA info with no adapters.
TEST(MetricsFixtures, VllmV0AibrixDump) {
  const std::string page =
      read_fixture("vllm/aibrix-docs_vllm-v0-engine_qwen2.5-coder-1.5b_partial.txt");
  const auto m = extract_ok(EngineKind::kVllm, page);
  EXPECT_EQ(m.waiting, 0);
  EXPECT_EQ(m.running, 0);
  EXPECT_EQ(m.kv_usage, 0.0);
  EXPECT_EQ(m.block_size, 16);
  EXPECT_EQ(m.num_blocks, 81767);
  ASSERT_TRUE(m.lora);
  EXPECT_EQ(m.lora->max_lora, 0);
  EXPECT_TRUE(m.lora->running.empty());
  EXPECT_TRUE(m.lora->waiting.empty());

  const std::string loaded = replace_once(
      page, "vllm:gpu_cache_usage_perc{model_name=\"Qwen/Qwen2.5-Coder-1.5B-Instruct\"} 0.0",
      "vllm:gpu_cache_usage_perc{model_name=\"Qwen/Qwen2.5-Coder-1.5B-Instruct\"} 0.625");
  EXPECT_EQ(extract_ok(EngineKind::kVllm, loaded).kv_usage, 0.625);
}

// Not an exposition but a list of "family type" lines (vLLM 0.26): it must be rejected, and it
// must name every family the vLLM mapping needs for a server without LoRA.
TEST(MetricsFixtures, VllmFamilyListOfRelease026) {
  const std::string text = read_fixture("vllm/inference-perf_vllm_metric_families_v0.26.0.txt");
  ASSERT_FALSE(text.empty());
  const auto v = validate(text);
  EXPECT_EQ(v.error.line, 7u);
  EXPECT_EQ(v.error.reason, "bad value");
  EXPECT_EQ(extract_error(EngineKind::kVllm, text), "malformed metrics page: line 7: bad value");
  for (const char* line :
       {"\nvllm:num_requests_waiting gauge\n", "\nvllm:num_requests_running gauge\n",
        "\nvllm:kv_cache_usage_perc gauge\n", "\nvllm:cache_config_info gauge\n"}) {
    EXPECT_NE(text.find(line), std::string::npos) << line;
  }
  EXPECT_EQ(text.find("vllm:gpu_cache_usage_perc"), std::string::npos);
}

TEST(MetricsFixtures, TritonTrtllmInflightBatcherDump) {
  const std::string page =
      read_fixture("trtllm/tensorrtllm_backend-readme_nv_trt_llm_inflight_batcher.txt");
  const auto m = extract_ok(EngineKind::kTritonTrtllm, page);
  EXPECT_EQ(m.waiting, 1);
  EXPECT_EQ(m.running, 1);
  EXPECT_EQ(m.kv_usage, 0.4875);
  EXPECT_EQ(m.block_size, 64);
  EXPECT_EQ(m.num_blocks, 6239);
  EXPECT_FALSE(m.lora);
}

// A whole Triton page is the three README pieces one after another.
TEST(MetricsFixtures, TritonTrtllmWholePage) {
  const std::string page =
      read_fixture("trtllm/tensorrtllm_backend-readme_nv_inference_base_triton.txt") +
      read_fixture("trtllm/tensorrtllm_backend-readme_nv_trt_llm_inflight_batcher.txt") +
      read_fixture("trtllm/tensorrtllm_backend-readme_nv_trt_llm_v1_fields.txt");
  const auto m = extract_ok(EngineKind::kTritonTrtllm, page);
  EXPECT_EQ(m.waiting, 1);
  EXPECT_EQ(m.running, 1);
  EXPECT_EQ(m.kv_usage, 0.4875);
  EXPECT_EQ(m.block_size, 64);
  EXPECT_EQ(m.num_blocks, 6239);
}

TEST(MetricsFixtures, TritonBaseMetricsAloneLackTheTrtllmFamilies) {
  const std::string page =
      read_fixture("trtllm/tensorrtllm_backend-readme_nv_inference_base_triton.txt");
  EXPECT_EQ(extract_error(EngineKind::kTritonTrtllm, page),
            "missing nv_trt_llm_request_metrics{request_type=\"waiting\"}");
}

TEST(MetricsFixtures, ADumpReadAsTheWrongEngineNamesTheMissingMetric) {
  const std::string page = read_fixture("vllm/datadog-integrations-core_vllm_metrics.txt");
  EXPECT_EQ(extract_error(EngineKind::kSglang, page), "missing sglang:num_queue_reqs");
  EXPECT_EQ(extract_error(EngineKind::kTgi, page), "missing tgi_queue_size");
}

}  // namespace
}  // namespace infergate::metrics

// Per-engine mappings on hand-written pages shaped like each engine's documented /metrics.
#include "metrics/engine_metrics.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace infergate::metrics {
namespace {

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
  ADD_FAILURE() << "expected an error for:\n" << page;
  return {};
}

// SGLang (`--enable-metrics`): gauges and histograms labelled by model_name.
constexpr std::string_view kSglangPage =
    R"(# HELP sglang:prompt_tokens_total Number of prefill tokens processed.
# TYPE sglang:prompt_tokens_total counter
sglang:prompt_tokens_total{model_name="meta-llama/Llama-3.1-8B-Instruct"} 5.21e+06
# HELP sglang:token_usage The token usage
# TYPE sglang:token_usage gauge
sglang:token_usage{model_name="meta-llama/Llama-3.1-8B-Instruct"} 0.31
# HELP sglang:cache_hit_rate The prefix cache hit rate
# TYPE sglang:cache_hit_rate gauge
sglang:cache_hit_rate{model_name="meta-llama/Llama-3.1-8B-Instruct"} 0.0125
# HELP sglang:time_to_first_token_seconds Histogram of time to first token in seconds.
# TYPE sglang:time_to_first_token_seconds histogram
sglang:time_to_first_token_seconds_sum{model_name="meta-llama/Llama-3.1-8B-Instruct"} 1840.5
sglang:time_to_first_token_seconds_bucket{le="0.1",model_name="meta-llama/Llama-3.1-8B-Instruct"} 310.0
sglang:time_to_first_token_seconds_bucket{le="+Inf",model_name="meta-llama/Llama-3.1-8B-Instruct"} 9021.0
sglang:time_to_first_token_seconds_count{model_name="meta-llama/Llama-3.1-8B-Instruct"} 9021.0
# HELP sglang:num_running_reqs The number of running requests
# TYPE sglang:num_running_reqs gauge
sglang:num_running_reqs{model_name="meta-llama/Llama-3.1-8B-Instruct"} 87.0
# HELP sglang:num_used_tokens The number of used tokens
# TYPE sglang:num_used_tokens gauge
sglang:num_used_tokens{model_name="meta-llama/Llama-3.1-8B-Instruct"} 101234.0
# HELP sglang:num_queue_reqs The number of requests in the waiting queue
# TYPE sglang:num_queue_reqs gauge
sglang:num_queue_reqs{model_name="meta-llama/Llama-3.1-8B-Instruct"} 14.0
# HELP sglang:cache_config_info Information of the KV cache configuration
# TYPE sglang:cache_config_info gauge
sglang:cache_config_info{num_pages="326592",page_size="1"} 1.0
)";

// TGI: the Rust metrics exporter writes TYPE lines only and unlabelled gauges.
constexpr std::string_view kTgiPage = R"(# TYPE tgi_request_count counter
tgi_request_count 1042
# TYPE tgi_queue_size gauge
tgi_queue_size 7
# TYPE tgi_batch_current_size gauge
tgi_batch_current_size 24
# TYPE tgi_batch_current_max_tokens gauge
tgi_batch_current_max_tokens 30912
# TYPE tgi_request_queue_duration summary
tgi_request_queue_duration{quantile="0.5"} 0.0021
tgi_request_queue_duration{quantile="0.99"} 0.35
tgi_request_queue_duration_sum 41.7
tgi_request_queue_duration_count 1042
# TYPE tgi_batch_inference_duration histogram
tgi_batch_inference_duration_bucket{method="decode",le="0.01"} 118
tgi_batch_inference_duration_bucket{method="decode",le="+Inf"} 5120
tgi_batch_inference_duration_sum{method="decode"} 210.4
tgi_batch_inference_duration_count{method="decode"} 5120
)";

// trtllm-serve: gauges named trtllm_*, labelled by model and engine type.
constexpr std::string_view kTrtllmServePage =
    R"(# HELP trtllm_num_requests_waiting Number of requests waiting.
# TYPE trtllm_num_requests_waiting gauge
trtllm_num_requests_waiting{model_name="llama-3.1-8b",engine_type="trtllm"} 5.0
# HELP trtllm_num_requests_running Number of requests running.
# TYPE trtllm_num_requests_running gauge
trtllm_num_requests_running{model_name="llama-3.1-8b",engine_type="trtllm"} 64.0
# HELP trtllm_kv_cache_utilization KV cache utilization, 0 to 1.
# TYPE trtllm_kv_cache_utilization gauge
trtllm_kv_cache_utilization{model_name="llama-3.1-8b",engine_type="trtllm"} 0.8125
# HELP trtllm_kv_cache_tokens_per_block Tokens per KV cache block.
# TYPE trtllm_kv_cache_tokens_per_block gauge
trtllm_kv_cache_tokens_per_block{model_name="llama-3.1-8b",engine_type="trtllm"} 32.0
# HELP trtllm_kv_cache_max_blocks Maximum number of KV cache blocks.
# TYPE trtllm_kv_cache_max_blocks gauge
trtllm_kv_cache_max_blocks{model_name="llama-3.1-8b",engine_type="trtllm"} 12000.0
# HELP trtllm_time_to_first_token_seconds Histogram of time to first token in seconds.
# TYPE trtllm_time_to_first_token_seconds histogram
trtllm_time_to_first_token_seconds_bucket{le="0.1",model_name="llama-3.1-8b",engine_type="trtllm"} 4.0
trtllm_time_to_first_token_seconds_bucket{le="+Inf",model_name="llama-3.1-8b",engine_type="trtllm"} 9.0
trtllm_time_to_first_token_seconds_sum{model_name="llama-3.1-8b",engine_type="trtllm"} 1.5
trtllm_time_to_first_token_seconds_count{model_name="llama-3.1-8b",engine_type="trtllm"} 9.0
)";

// vLLM with two data-parallel engines: every series comes once per engine.
constexpr std::string_view kVllmDataParallelPage = R"(# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{engine="0",model_name="m"} 3.0
vllm:num_requests_running{engine="1",model_name="m"} 5.0
# TYPE vllm:num_requests_waiting gauge
vllm:num_requests_waiting{engine="0",model_name="m"} 2.0
vllm:num_requests_waiting{engine="1",model_name="m"} 0.0
# TYPE vllm:num_requests_waiting_by_reason gauge
vllm:num_requests_waiting_by_reason{engine="0",model_name="m",reason="capacity"} 100.0
# TYPE vllm:kv_cache_usage_perc gauge
vllm:kv_cache_usage_perc{engine="0",model_name="m"} 0.25
vllm:kv_cache_usage_perc{engine="1",model_name="m"} 0.75
# TYPE vllm:cache_config_info gauge
vllm:cache_config_info{block_size="16",engine="0",num_gpu_blocks="1000"} 1.0
vllm:cache_config_info{block_size="16",engine="1",num_gpu_blocks="1000"} 1.0
)";

TEST(EngineMetrics, EngineKindNames) {
  const std::pair<std::string_view, EngineKind> known[] = {
      {"vllm", EngineKind::kVllm},
      {"sglang", EngineKind::kSglang},
      {"trtllm", EngineKind::kTrtllmServe},
      {"triton-trtllm", EngineKind::kTritonTrtllm},
      {"tgi", EngineKind::kTgi}};
  for (const auto& [name, kind] : known) {
    EXPECT_EQ(engine_kind_from_name(name), kind) << name;
    EXPECT_EQ(engine_kind_name(kind), name);
  }
  for (const char* unknown : {"", "VLLM", "trtllm-serve", "triton", "vllm "}) {
    EXPECT_FALSE(engine_kind_from_name(unknown)) << unknown;
  }
}

TEST(EngineMetrics, Sglang) {
  const auto m = extract_ok(EngineKind::kSglang, kSglangPage);
  EXPECT_EQ(m.waiting, 14);
  EXPECT_EQ(m.running, 87);
  EXPECT_EQ(m.kv_usage, 0.31);
  EXPECT_EQ(m.block_size, 1);
  EXPECT_EQ(m.num_blocks, 326592);
  EXPECT_FALSE(m.lora);
}

TEST(EngineMetrics, TgiHasNoKvSignal) {
  const auto m = extract_ok(EngineKind::kTgi, kTgiPage);
  EXPECT_EQ(m.waiting, 7);
  EXPECT_EQ(m.running, 24);
  EXPECT_FALSE(m.kv_usage);
  EXPECT_FALSE(m.block_size);
  EXPECT_FALSE(m.num_blocks);
  EXPECT_FALSE(m.lora);
}

TEST(EngineMetrics, TrtllmServe) {
  const auto m = extract_ok(EngineKind::kTrtllmServe, kTrtllmServePage);
  EXPECT_EQ(m.waiting, 5);
  EXPECT_EQ(m.running, 64);
  EXPECT_EQ(m.kv_usage, 0.8125);
  EXPECT_EQ(m.block_size, 32);
  EXPECT_EQ(m.num_blocks, 12000);
}

TEST(EngineMetrics, VllmDataParallelEnginesSumQueuesAndTakeTheFullestCache) {
  const auto m = extract_ok(EngineKind::kVllm, kVllmDataParallelPage);
  EXPECT_EQ(m.waiting, 2);  // not the 100 of num_requests_waiting_by_reason
  EXPECT_EQ(m.running, 8);
  EXPECT_EQ(m.kv_usage, 0.75);
  EXPECT_EQ(m.block_size, 16);
  EXPECT_EQ(m.num_blocks, 2000);
  EXPECT_FALSE(m.lora);
}

TEST(EngineMetrics, VllmPrefersTheNewKvNameWhereverItComes) {
  const std::string page =
      "vllm:gpu_cache_usage_perc{model_name=\"m\"} 0.9\n"
      "vllm:num_requests_waiting{model_name=\"m\"} 0\n"
      "vllm:num_requests_running{model_name=\"m\"} 0\n"
      "vllm:kv_cache_usage_perc{model_name=\"m\"} 0.1\n";
  EXPECT_EQ(extract_ok(EngineKind::kVllm, page).kv_usage, 0.1);
}

TEST(EngineMetrics, VllmLoraUsesTheSeriesWithTheLargestTimestamp) {
  const std::string page =
      "vllm:num_requests_waiting{model_name=\"m\"} 1\n"
      "vllm:num_requests_running{model_name=\"m\"} 2\n"
      "vllm:kv_cache_usage_perc{model_name=\"m\"} 0.5\n"
      "# HELP vllm:lora_requests_info Running stats on lora requests.\n"
      "# TYPE vllm:lora_requests_info gauge\n"
      "vllm:lora_requests_info{max_lora=\"4\",running_lora_adapters=\"old\","
      "waiting_lora_adapters=\"\"} 1.7000000001e+09\n"
      "vllm:lora_requests_info{max_lora=\"4\",running_lora_adapters=\"sql,chat-\\\"v2\\\"\","
      "waiting_lora_adapters=\"a\\\\b, summarize\"} 1.7000000005e+09\n"
      "vllm:lora_requests_info{max_lora=\"4\",running_lora_adapters=\"older\","
      "waiting_lora_adapters=\"\"} 1.7000000003e+09\n";
  const auto m = extract_ok(EngineKind::kVllm, page);
  ASSERT_TRUE(m.lora);
  EXPECT_EQ(m.lora->max_lora, 4);
  EXPECT_EQ(m.lora->running, (std::vector<std::string>{"sql", "chat-\"v2\""}));
  EXPECT_EQ(m.lora->waiting, (std::vector<std::string>{"a\\b", "summarize"}));
  EXPECT_FALSE(m.block_size);
  EXPECT_FALSE(m.num_blocks);
}

TEST(EngineMetrics, LabelsThatAreNotIntegersLeaveFieldsUnset) {
  const std::string vllm =
      "vllm:num_requests_waiting 1\n"
      "vllm:num_requests_running 2\n"
      "vllm:kv_cache_usage_perc 0.5\n"
      "vllm:cache_config_info{block_size=\"16\",num_gpu_blocks=\"None\"} 1.0\n"
      "vllm:lora_requests_info{max_lora=\"many\",running_lora_adapters=\"x\"} 1.0\n";
  const auto m = extract_ok(EngineKind::kVllm, vllm);
  EXPECT_EQ(m.block_size, 16);
  EXPECT_FALSE(m.num_blocks);
  ASSERT_TRUE(m.lora);
  EXPECT_EQ(m.lora->max_lora, 0);
  EXPECT_EQ(m.lora->running, std::vector<std::string>{"x"});
  EXPECT_TRUE(m.lora->waiting.empty());

  const std::string trtllm =
      "trtllm_num_requests_waiting 1\n"
      "trtllm_num_requests_running 2\n"
      "trtllm_kv_cache_utilization 0.5\n"
      "trtllm_kv_cache_tokens_per_block 16.5\n"
      "trtllm_kv_cache_max_blocks -3\n";
  const auto t = extract_ok(EngineKind::kTrtllmServe, trtllm);
  EXPECT_FALSE(t.block_size);
  EXPECT_FALSE(t.num_blocks);

  const std::string overflowing =
      "vllm:num_requests_waiting 1\nvllm:num_requests_running 2\nvllm:kv_cache_usage_perc 0.5\n"
      "vllm:cache_config_info{block_size=\"0\",num_gpu_blocks=\"9223372036854775807\"} 1.0\n"
      "vllm:cache_config_info{block_size=\"32\",num_gpu_blocks=\"9223372036854775807\"} 1.0\n";
  const auto o = extract_ok(EngineKind::kVllm, overflowing);
  EXPECT_EQ(o.block_size, 32);
  EXPECT_FALSE(o.num_blocks);
}

TEST(EngineMetrics, TritonSumsModelsAndMatchesSelectorsExactly) {
  const std::string page =
      "nv_trt_llm_request_metrics{model=\"a\",request_type=\"waiting\",version=\"1\"} 2\n"
      "nv_trt_llm_request_metrics{model=\"a\",request_type=\"waiting_x\",version=\"1\"} 50\n"
      "nv_trt_llm_request_metrics{model=\"a\",request_type=\"scheduled\",version=\"1\"} 3\n"
      "nv_trt_llm_request_metrics{model=\"b\",request_type=\"waiting\",version=\"1\"} 4\n"
      "nv_trt_llm_request_metrics{model=\"b\",request_type=\"scheduled\",version=\"1\"} 5\n"
      "nv_trt_llm_request_metrics{model=\"b\",version=\"1\"} 70\n"
      "nv_trt_llm_kv_cache_block_metrics{kv_cache_block_type=\"fraction\",model=\"a\"} 0.5\n"
      "nv_trt_llm_kv_cache_block_metrics{kv_cache_block_type=\"fraction\",model=\"b\"} 0.25\n"
      "nv_trt_llm_kv_cache_block_metrics{kv_cache_block_type=\"tokens_per\",model=\"a\"} 64\n"
      "nv_trt_llm_kv_cache_block_metrics{kv_cache_block_type=\"max\",model=\"a\"} 100\n"
      "nv_trt_llm_kv_cache_block_metrics{kv_cache_block_type=\"max\",model=\"b\"} 200\n";
  const auto m = extract_ok(EngineKind::kTritonTrtllm, page);
  EXPECT_EQ(m.waiting, 6);
  EXPECT_EQ(m.running, 8);
  EXPECT_EQ(m.kv_usage, 0.5);
  EXPECT_EQ(m.block_size, 64);
  EXPECT_EQ(m.num_blocks, 300);
}

struct Failing {
  const char* name;
  EngineKind engine;
  std::string page;
  std::string message;
};

class ExtractFails : public ::testing::TestWithParam<Failing> {};

TEST_P(ExtractFails, WithAMessageNamingTheCause) {
  EXPECT_EQ(extract_error(GetParam().engine, GetParam().page), GetParam().message);
}

const std::string kVllmOk =
    "vllm:num_requests_waiting{model_name=\"m\"} 1\n"
    "vllm:num_requests_running{model_name=\"m\"} 2\n"
    "vllm:kv_cache_usage_perc{model_name=\"m\"} 0.5\n";

INSTANTIATE_TEST_SUITE_P(
    Table, ExtractFails,
    ::testing::Values(
        Failing{"empty_page", EngineKind::kVllm, "", "missing vllm:num_requests_waiting"},
        Failing{"blank_page", EngineKind::kTgi, "\n\r\n", "missing tgi_queue_size"},
        Failing{"vllm_no_running", EngineKind::kVllm,
                "vllm:num_requests_waiting 1\nvllm:kv_cache_usage_perc 0.5\n",
                "missing vllm:num_requests_running"},
        Failing{"vllm_no_kv", EngineKind::kVllm,
                "vllm:num_requests_waiting 1\nvllm:num_requests_running 2\n",
                "missing vllm:kv_cache_usage_perc (or vllm:gpu_cache_usage_perc)"},
        Failing{"only_a_histogram_of_the_name", EngineKind::kVllm,
                "vllm:num_requests_waiting_bucket{le=\"1\"} 1\n",
                "missing vllm:num_requests_waiting"},
        Failing{"sglang_no_kv", EngineKind::kSglang,
                "sglang:num_queue_reqs 1\nsglang:num_running_reqs 2\n",
                "missing sglang:token_usage"},
        Failing{"trtllm_no_waiting", EngineKind::kTrtllmServe,
                "trtllm_num_requests_running 2\ntrtllm_kv_cache_utilization 0.1\n",
                "missing trtllm_num_requests_waiting"},
        Failing{"triton_no_scheduled", EngineKind::kTritonTrtllm,
                "nv_trt_llm_request_metrics{request_type=\"waiting\"} 1\n"
                "nv_trt_llm_request_metrics{request_type=\"context\"} 1\n",
                "missing nv_trt_llm_request_metrics{request_type=\"scheduled\"}"},
        Failing{"triton_no_fraction", EngineKind::kTritonTrtllm,
                "nv_trt_llm_request_metrics{request_type=\"waiting\"} 1\n"
                "nv_trt_llm_request_metrics{request_type=\"scheduled\"} 1\n"
                "nv_trt_llm_kv_cache_block_metrics{kv_cache_block_type=\"max\"} 10\n",
                "missing nv_trt_llm_kv_cache_block_metrics{kv_cache_block_type=\"fraction\"}"},
        Failing{"tgi_no_batch", EngineKind::kTgi, "tgi_queue_size 3\n",
                "missing tgi_batch_current_size"},
        Failing{"truncated_labels", EngineKind::kVllm,
                kVllmOk + "vllm:cache_config_info{block_size=\"16\",num_gpu_bl",
                "malformed metrics page: line 4: expected '=' after a label name"},
        Failing{"truncated_label_value", EngineKind::kVllm,
                kVllmOk + "vllm:num_requests_running{model_name=\"m",
                "malformed metrics page: line 4: unterminated label value"},
        Failing{"bad_escape", EngineKind::kVllm,
                "vllm:num_requests_waiting{model_name=\"a\\tb\"} 1\n" + kVllmOk,
                "malformed metrics page: line 1: bad escape in label value"},
        Failing{"bad_number", EngineKind::kVllm, kVllmOk + "vllm:kv_cache_usage_perc 0.5.1\n",
                "malformed metrics page: line 4: bad value"},
        Failing{"huge_wanted_line", EngineKind::kVllm,
                kVllmOk + "vllm:num_requests_waiting{model_name=\"" + std::string(1 << 20, 'm'),
                "malformed metrics page: line 4: unterminated label value"},
        Failing{"nan_waiting", EngineKind::kVllm, "vllm:num_requests_waiting NaN\n" + kVllmOk,
                "vllm:num_requests_waiting on line 1 is not a finite, non-negative number"},
        Failing{"negative_running", EngineKind::kTgi,
                "tgi_queue_size 1\ntgi_batch_current_size -1\n",
                "tgi_batch_current_size on line 2 is not a finite, non-negative number"},
        Failing{"infinite_kv", EngineKind::kTritonTrtllm,
                "nv_trt_llm_kv_cache_block_metrics{kv_cache_block_type=\"fraction\"} +Inf\n",
                "nv_trt_llm_kv_cache_block_metrics{kv_cache_block_type=\"fraction\"} on line 1 "
                "is not a finite, non-negative number"},
        Failing{"overflowing_sum", EngineKind::kTgi,
                "tgi_queue_size 1e308\ntgi_queue_size 1e308\ntgi_batch_current_size 1\n",
                "the queue or running sums overflow"}),
    [](const auto& test_case) { return std::string(test_case.param.name); });

TEST(EngineMetrics, MalformedLinesOfOtherMetricsAreIgnored) {
  const std::string page =
      "vllm:prompt_tokens_total{model_name=\"m 1\n"
      "vllm:iteration_tokens_total_bucket{le=} x\n"
      "{{{{\n" +
      kVllmOk + "vllm:generation_tokens_total{model_name=\"m\"} twelve\n";
  const auto m = extract_ok(EngineKind::kVllm, page);
  EXPECT_EQ(m.waiting, 1);
  EXPECT_EQ(m.running, 2);
  EXPECT_EQ(m.kv_usage, 0.5);
}

TEST(EngineMetrics, HugePageOfOtherFamilies) {
  std::string page;
  for (int i = 0; i < 20000; ++i) {
    page += "vllm:request_prompt_tokens_bucket{le=\"" + std::to_string(i) +
            "\",model_name=\"m\"} 1.0\n";
  }
  page += kVllmOk;
  const auto m = extract_ok(EngineKind::kVllm, page);
  EXPECT_EQ(m.running, 2);
}

}  // namespace
}  // namespace infergate::metrics

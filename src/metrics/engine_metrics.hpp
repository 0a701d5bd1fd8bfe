// The load signals of one model-server endpoint, read from its /metrics page with the metric
// names of its engine (the names upstream's picker reads; the table is in engine_metrics.cpp):
// queue length, running batch, KV-cache use, KV block geometry and, for vLLM, the LoRA adapters in
// use.
//
// Contract: extract_metrics() reads one page (untrusted bytes) and returns either the signals
// or an error naming what was wrong: a malformed line of a metric it reads (with the line
// number), a missing queue, running or KV metric, or a signal that is not a finite, non-negative
// number. When an engine reports a signal in several series (vLLM labels them by `model_name`
// and `engine`, one per data-parallel engine), waiting and running are summed, KV use is the
// largest, the block size is the first series' and the block count is summed. Labels that
// should hold integers (block size, block count, max_lora) but do not leave their field unset.
// Lines of other metrics are skipped without being parsed. It allocates only for the LoRA
// adapter names and for an error's message.
//
// Thread-safety: pure functions; safe from any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace infergate::metrics {

enum class EngineKind { kVllm, kSglang, kTrtllmServe, kTritonTrtllm, kTgi };

// Config spelling: "vllm", "sglang", "trtllm" (trtllm-serve), "triton-trtllm", "tgi".
std::optional<EngineKind> engine_kind_from_name(std::string_view name);
std::string_view engine_kind_name(EngineKind kind);

struct LoraInfo {
  std::vector<std::string> running, waiting;
  int max_lora = 0;
};

struct EndpointMetrics {
  double waiting = 0;                      // requests queued in the engine
  double running = 0;                      // requests in the running batch
  std::optional<double> kv_usage;          // 0..1; absent when the engine does not report it (TGI)
  std::optional<std::int64_t> block_size;  // tokens per KV block
  std::optional<std::int64_t> num_blocks;  // KV blocks on the GPU
  std::optional<LoraInfo> lora;            // vLLM only, when lora_requests_info is present
};

struct MetricsError {
  std::string message;
};

std::variant<EndpointMetrics, MetricsError> extract_metrics(EngineKind engine,
                                                            std::string_view page);

}  // namespace infergate::metrics

// How long one engine step takes on a simulated GPU, and the named GPU profiles.
//
// A step runs every scheduled sequence's tokens through the model once:
//   t = c0 + c_pf * max(0, N - knee) + c_kv * context + c_seq * batch + lora_loads * c_lora
// c0 is the weight-read floor (a step is memory bound up to `knee` tokens), c_pf the cost of
// each further token through the linear layers, c_kv the attention cost per token of context
// read, c_seq the per-sequence bookkeeping (sampling, detokenisation). A request also spends
// `request_overhead` in the API server (HTTP, tokenisation) before the engine sees it.
// docs/simulator.md states the constants and which published points they were fitted to.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.hpp"

namespace infergate::sim {

struct StepTimeModel {
  Duration c0{};
  Duration c_prefill_per_token{};        // c_pf
  double c_kv_per_context_token_ns = 0;  // c_kv, in ns (fractions matter)
  Duration c_per_sequence{};             // c_seq
  int knee_tokens = 128;
  Duration lora_load{};         // loading one adapter into a GPU slot
  Duration request_overhead{};  // API server time before the engine queue

  struct Step {
    long tokens = 0;          // N: tokens computed in the step
    long context_tokens = 0;  // attention context summed over the batch
    int sequences = 0;
    int lora_loads = 0;
  };
  Duration step_time(const Step& s) const;
};

struct GpuProfile {
  std::string name;
  std::string description;
  StepTimeModel timing;
  int num_gpu_blocks = 0;
  int block_size = 16;
  int max_num_batched_tokens = 0;
  int max_num_seqs = 0;
};

// Named profiles: "h100-llama3.1-8b" (default), "a100-llama3.1-8b", "tiny" (fast, small cache;
// for tests that want behaviour rather than realistic timing).
std::optional<GpuProfile> find_gpu_profile(std::string_view name);
std::vector<std::string> gpu_profile_names();

}  // namespace infergate::sim

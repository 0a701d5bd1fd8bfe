#include "sim/engine/step_time_model.hpp"

#include <algorithm>

namespace infergate::sim {

using std::chrono::microseconds;
using std::chrono::milliseconds;

Duration StepTimeModel::step_time(const Step& s) const {
  const long over_knee = std::max(0L, s.tokens - knee_tokens);
  Duration t = c0 + c_prefill_per_token * over_knee + c_per_sequence * s.sequences +
               lora_load * s.lora_loads;
  t += Duration{static_cast<Duration::rep>(c_kv_per_context_token_ns *
                                           static_cast<double>(s.context_tokens))};
  return t;
}

namespace {

std::vector<GpuProfile> make_profiles() {
  std::vector<GpuProfile> out;

  // Llama-3.1-8B BF16 on one H100-80GB, vLLM defaults for that card. Fitted to the published
  // low-load TTFT and time per output token and to the saturation throughput without prefix
  // caching; see docs/simulator.md.
  GpuProfile h100;
  h100.name = "h100-llama3.1-8b";
  h100.description = "Llama-3.1-8B BF16 on one H100 80GB (vLLM 0.11 defaults)";
  h100.timing.c0 = microseconds(6900);
  h100.timing.c_prefill_per_token = microseconds(27);
  h100.timing.c_kv_per_context_token_ns = 40;
  h100.timing.c_per_sequence = microseconds(25);
  h100.timing.knee_tokens = 128;
  h100.timing.lora_load = milliseconds(25);
  h100.timing.request_overhead = milliseconds(10);
  h100.num_gpu_blocks = 27000;  // ~432k tokens of KV at 128 KiB per token
  h100.block_size = 16;
  h100.max_num_batched_tokens = 8192;
  h100.max_num_seqs = 1024;
  out.push_back(h100);

  // The same model on one A100-80GB: ~1.5x the weight-read floor, ~15k tokens/s through the
  // linear layers, the smaller default batch budget.
  GpuProfile a100;
  a100.name = "a100-llama3.1-8b";
  a100.description = "Llama-3.1-8B BF16 on one A100 80GB";
  a100.timing.c0 = microseconds(10000);
  a100.timing.c_prefill_per_token = microseconds(66);
  a100.timing.c_kv_per_context_token_ns = 60;
  a100.timing.c_per_sequence = microseconds(30);
  a100.timing.knee_tokens = 128;
  a100.timing.lora_load = milliseconds(40);
  a100.timing.request_overhead = milliseconds(10);
  a100.num_gpu_blocks = 26000;
  a100.block_size = 16;
  a100.max_num_batched_tokens = 2048;
  a100.max_num_seqs = 256;
  out.push_back(a100);

  // Small and quick: for functional tests that need preemption and eviction to happen with
  // short prompts, and steps of about a millisecond.
  GpuProfile tiny;
  tiny.name = "tiny";
  tiny.description = "fast steps and a 4096-token cache, for functional tests";
  tiny.timing.c0 = microseconds(1000);
  tiny.timing.c_prefill_per_token = microseconds(2);
  tiny.timing.c_kv_per_context_token_ns = 5;
  tiny.timing.c_per_sequence = microseconds(10);
  tiny.timing.knee_tokens = 128;
  tiny.timing.lora_load = milliseconds(5);
  tiny.timing.request_overhead = microseconds(200);
  tiny.num_gpu_blocks = 256;
  tiny.block_size = 16;
  tiny.max_num_batched_tokens = 2048;
  tiny.max_num_seqs = 64;
  out.push_back(tiny);
  return out;
}

const std::vector<GpuProfile>& profiles() {
  static const std::vector<GpuProfile> all = make_profiles();
  return all;
}

}  // namespace

std::optional<GpuProfile> find_gpu_profile(std::string_view name) {
  for (const auto& p : profiles())
    if (p.name == name) return p;
  return std::nullopt;
}

std::vector<std::string> gpu_profile_names() {
  std::vector<std::string> names;
  for (const auto& p : profiles()) names.push_back(p.name);
  return names;
}

}  // namespace infergate::sim

#include "sim/engine/step_time_model.hpp"

#include <gtest/gtest.h>

namespace infergate::sim {
namespace {

using std::chrono::microseconds;

StepTimeModel model() {
  StepTimeModel m;
  m.c0 = microseconds(7000);
  m.c_prefill_per_token = microseconds(20);
  m.c_kv_per_context_token_ns = 50;
  m.c_per_sequence = microseconds(30);
  m.knee_tokens = 128;
  m.lora_load = microseconds(25000);
  return m;
}

TEST(StepTimeModel, WeightReadFloorUpToTheKnee) {
  const auto m = model();
  EXPECT_EQ(m.step_time({.tokens = 1, .context_tokens = 0, .sequences = 0, .lora_loads = 0}),
            microseconds(7000));
  EXPECT_EQ(m.step_time({.tokens = 128, .context_tokens = 0, .sequences = 0, .lora_loads = 0}),
            microseconds(7000));
}

TEST(StepTimeModel, LinearInTokensContextSequencesAndLoads) {
  const auto m = model();
  // 7000 + 20 x (1128 - 128) + 0.05 x 20000 + 30 x 10 + 25000 x 1
  EXPECT_EQ(
      m.step_time({.tokens = 1128, .context_tokens = 20000, .sequences = 10, .lora_loads = 1}),
      microseconds(7000 + 20000 + 1000 + 300 + 25000));
}

TEST(GpuProfiles, NamedProfilesExist) {
  for (const char* name : {"h100-llama3.1-8b", "a100-llama3.1-8b", "tiny"}) {
    const auto p = find_gpu_profile(name);
    ASSERT_TRUE(p) << name;
    EXPECT_GT(p->num_gpu_blocks, 0);
    EXPECT_GT(p->max_num_batched_tokens, 0);
    EXPECT_GT(p->max_num_seqs, 0);
  }
  EXPECT_FALSE(find_gpu_profile("nope"));
  // An A100 is slower than an H100 at every batch size.
  const auto h = find_gpu_profile("h100-llama3.1-8b")->timing;
  const auto a = find_gpu_profile("a100-llama3.1-8b")->timing;
  for (long n : {1L, 256L, 4096L}) {
    const StepTimeModel::Step s{
        .tokens = n, .context_tokens = n * 4, .sequences = 8, .lora_loads = 0};
    EXPECT_GT(a.step_time(s), h.step_time(s));
  }
}

}  // namespace
}  // namespace infergate::sim

#include "sim/engine/engine.hpp"

#include <gtest/gtest.h>

#include "sim/engine/virtual_time_runner.hpp"

namespace infergate::sim {
namespace {

using std::chrono::milliseconds;

// Steps of exactly 1 ms, no API overhead: time in these tests counts steps.
GpuProfile step_counting_profile(int blocks = 64, int budget = 64, int max_seqs = 8) {
  GpuProfile p;
  p.name = "test";
  p.timing.c0 = milliseconds(1);
  p.timing.lora_load = milliseconds(10);
  p.num_gpu_blocks = blocks;
  p.block_size = 4;
  p.max_num_batched_tokens = budget;
  p.max_num_seqs = max_seqs;
  return p;
}

struct Recorder : RequestObserver {
  std::vector<std::size_t> tokens;
  std::optional<RequestResult> result;
  void on_token(std::size_t index, TimePoint) override { tokens.push_back(index); }
  void on_finished(const RequestResult& r) override { result = r; }
};

EngineRequest request(int prompt_tokens, int output_tokens, Recorder* rec, std::string lora = {},
                      TokenId fill = 7) {
  EngineRequest r;
  r.prompt.assign(static_cast<std::size_t>(prompt_tokens), fill);
  r.output_tokens = output_tokens;
  r.observer = rec;
  r.lora = std::move(lora);
  return r;
}

// Runs steps until the engine is idle; returns the number of steps.
int drain(Engine& engine, TimePoint& now) {
  int steps = 0;
  while (engine.has_work()) {
    auto d = engine.begin_step(now);
    if (!d) {
      now = *engine.next_arrival();
      continue;
    }
    now += *d;
    engine.end_step(now);
    ++steps;
  }
  return steps;
}

TEST(Engine, ChunkedPrefillRespectsTheTokenBudget) {
  Engine engine({.profile = step_counting_profile(64, 64), .enable_prefix_caching = false});
  Recorder a, b;
  engine.submit(request(40, 2, &a), TimePoint{0});
  engine.submit(request(40, 2, &b), TimePoint{0});
  ASSERT_TRUE(engine.begin_step(TimePoint{0}));
  EXPECT_EQ(engine.last_step().tokens, 64) << "40 for a, a 24-token chunk of b";
  EXPECT_EQ(engine.last_step().sequences, 2);
  engine.end_step(TimePoint{milliseconds(1)});
  EXPECT_EQ(a.tokens.size(), 1u) << "a's prefill is done: first token";
  EXPECT_TRUE(b.tokens.empty()) << "b still has 16 prompt tokens to go";

  ASSERT_TRUE(engine.begin_step(TimePoint{milliseconds(1)}));
  EXPECT_EQ(engine.last_step().tokens, 1 + 16);
  engine.end_step(TimePoint{milliseconds(2)});
  ASSERT_TRUE(a.result);
  EXPECT_EQ(a.result->output_tokens, 2);
  EXPECT_EQ(b.tokens.size(), 1u);
}

TEST(Engine, SequenceCapLimitsTheBatch) {
  Engine engine({.profile = step_counting_profile(64, 512, 2), .enable_prefix_caching = false});
  Recorder r[3];
  for (auto& rec : r) engine.submit(request(4, 3, &rec), TimePoint{0});
  ASSERT_TRUE(engine.begin_step(TimePoint{0}));
  EXPECT_EQ(engine.num_running(), 2);
  EXPECT_EQ(engine.num_waiting(), 1);
  engine.end_step(TimePoint{milliseconds(1)});
  TimePoint now{milliseconds(1)};
  drain(engine, now);
  for (auto& rec : r) {
    ASSERT_TRUE(rec.result);
    EXPECT_EQ(rec.result->output_tokens, 3);
  }
  EXPECT_GT(r[2].result->first_token, r[0].result->finished - milliseconds(1))
      << "the third starts only when a slot frees";
}

TEST(Engine, AtMostMaxLorasAdaptersPerStepAndLoadingCostsTime) {
  Engine engine(
      {.profile = step_counting_profile(), .enable_prefix_caching = false, .max_loras = 1});
  Recorder a1, b, a2;
  engine.submit(request(4, 2, &a1, "sql-lora"), TimePoint{0});
  engine.submit(request(4, 2, &b, "tweet-lora"), TimePoint{0});
  engine.submit(request(4, 2, &a2, "sql-lora"), TimePoint{0});
  const auto d = engine.begin_step(TimePoint{0});
  ASSERT_TRUE(d);
  EXPECT_EQ(engine.num_running(), 2) << "both sql-lora requests; tweet-lora skipped";
  EXPECT_EQ(engine.running_adapters(), std::vector<std::string>{"sql-lora"});
  EXPECT_EQ(engine.waiting_adapters(), std::vector<std::string>{"tweet-lora"});
  EXPECT_EQ(engine.last_step().lora_loads, 1);
  EXPECT_EQ(*d, milliseconds(11));
  engine.end_step(TimePoint{*d});

  TimePoint now{*d};
  ASSERT_TRUE(engine.begin_step(now));
  EXPECT_EQ(engine.last_step().lora_loads, 0) << "already in its slot";
  now += milliseconds(1);
  engine.end_step(now);
  drain(engine, now);
  ASSERT_TRUE(b.result);
  EXPECT_GT(b.result->first_token, a1.result->finished);
}

TEST(Engine, PrefixHitSkipsCachedBlocksAndReportsCachedTokens) {
  Engine engine({.profile = step_counting_profile(), .enable_prefix_caching = true});
  Recorder first, second;
  auto r1 = request(30, 1, &first);
  auto r2 = request(30, 1, &second);
  for (int i = 0; i < 30; ++i) {
    r1.prompt[i] = static_cast<TokenId>(i);
    r2.prompt[i] = static_cast<TokenId>(i < 14 ? i : 1000 + i);  // 14 tokens in common
  }
  TimePoint now{0};
  engine.submit(std::move(r1), now);
  drain(engine, now);
  engine.submit(std::move(r2), now);
  ASSERT_TRUE(engine.begin_step(now));
  EXPECT_EQ(engine.last_step().tokens, 30 - 12) << "3 whole blocks of 4 were cached";
  now += milliseconds(1);
  engine.end_step(now);
  ASSERT_TRUE(second.result);
  EXPECT_EQ(first.result->cached_tokens, 0);
  EXPECT_EQ(second.result->cached_tokens, 12) << "common prefix rounded down to whole blocks";
  EXPECT_EQ(engine.stats().prefix_cache_hits, 12u);
  EXPECT_EQ(engine.stats().prefix_cache_queries, 60u);
}

TEST(Engine, AFullyCachedPromptStillComputesItsLastBlock) {
  Engine engine({.profile = step_counting_profile(), .enable_prefix_caching = true});
  Recorder a, b;
  TimePoint now{0};
  engine.submit(request(16, 1, &a), now);
  drain(engine, now);
  engine.submit(request(16, 1, &b), now);
  drain(engine, now);
  EXPECT_EQ(b.result->cached_tokens, 12);
}

TEST(Engine, PreemptsTheNewestRequestWhenTheCacheIsFull) {
  // 6 blocks of 4 tokens; each request grows to 4 + 12 = 16 tokens = 4 blocks.
  Engine engine({.profile = step_counting_profile(6, 64), .enable_prefix_caching = false});
  Recorder a, b;
  TimePoint now{0};
  engine.submit(request(4, 12, &a, {}, 1), now);
  engine.submit(request(4, 12, &b, {}, 2), now);
  drain(engine, now);
  ASSERT_TRUE(a.result && b.result);
  EXPECT_EQ(a.result->output_tokens, 12);
  EXPECT_EQ(b.result->output_tokens, 12);
  EXPECT_EQ(a.result->preemptions, 0) << "the older request keeps running";
  EXPECT_GE(b.result->preemptions, 1);
  EXPECT_GE(engine.stats().preemptions, 1u);
  EXPECT_EQ(engine.kv_cache().num_free_blocks(), 6) << "everything released";
  // b's tokens are reported once each, in order, despite the recomputation.
  for (std::size_t i = 0; i < b.tokens.size(); ++i) EXPECT_EQ(b.tokens[i], i);
}

TEST(Engine, AbortFreesBlocksAndStopsCallbacks) {
  Engine engine({.profile = step_counting_profile(), .enable_prefix_caching = false});
  Recorder a;
  TimePoint now{0};
  const RequestId id = engine.submit(request(8, 100, &a), now);
  for (int i = 0; i < 3; ++i) {
    now += *engine.begin_step(now);
    engine.end_step(now);
  }
  EXPECT_EQ(a.tokens.size(), 3u);
  EXPECT_LT(engine.kv_cache().num_free_blocks(), 64);
  engine.abort(id);
  EXPECT_EQ(engine.num_running(), 0);
  EXPECT_EQ(engine.kv_cache().num_free_blocks(), 64);
  EXPECT_FALSE(engine.has_work());
  EXPECT_FALSE(a.result);
  EXPECT_EQ(engine.stats().finished_by_reason.at("abort"), 1u);
}

TEST(Engine, AbortDuringAStepIsSafe) {
  Engine engine({.profile = step_counting_profile(), .enable_prefix_caching = false});
  Recorder a, b;
  TimePoint now{0};
  const RequestId id = engine.submit(request(8, 5, &a), now);
  engine.submit(request(8, 5, &b), now);
  now += *engine.begin_step(now);
  engine.abort(id);
  engine.end_step(now);
  drain(engine, now);
  EXPECT_TRUE(a.tokens.empty());
  EXPECT_FALSE(a.result);
  ASSERT_TRUE(b.result);
}

TEST(Engine, PrefillOnlyRequestsFinishWithoutTokens) {
  Engine engine({.profile = step_counting_profile(), .enable_prefix_caching = false});
  Recorder a;
  TimePoint now{0};
  engine.submit(request(10, 0, &a), now);
  EXPECT_EQ(drain(engine, now), 1);
  ASSERT_TRUE(a.result);
  EXPECT_EQ(a.result->output_tokens, 0);
  EXPECT_TRUE(a.tokens.empty());
}

TEST(Engine, RequestOverheadDelaysTheEngineQueue) {
  auto profile = step_counting_profile();
  profile.timing.request_overhead = milliseconds(5);
  Engine engine({.profile = profile, .enable_prefix_caching = false});
  Recorder a;
  engine.submit(request(4, 1, &a), TimePoint{0});
  EXPECT_FALSE(engine.begin_step(TimePoint{milliseconds(4)}));
  EXPECT_EQ(engine.next_arrival(), TimePoint{milliseconds(5)});
  EXPECT_TRUE(engine.begin_step(TimePoint{milliseconds(5)}));
}

TEST(Engine, SlowdownStretchesSteps) {
  Engine engine({.profile = step_counting_profile(), .enable_prefix_caching = false});
  engine.set_slowdown(3.0);
  Recorder a;
  engine.submit(request(4, 1, &a), TimePoint{0});
  EXPECT_EQ(*engine.begin_step(TimePoint{0}), milliseconds(3));
}

TEST(Engine, WorkingSetLargerThanTheCacheLowersTheHitRatio) {
  // 20 groups with a 48-token system prompt each need 240 blocks of 4; a 64-block cache holds
  // about a quarter of them, a 1024-block cache all of them.
  auto hit_ratio = [](int blocks) {
    Engine engine(
        {.profile = step_counting_profile(blocks, 256, 8), .enable_prefix_caching = true});
    VirtualTimeRunner runner(engine);
    const SharedPrefixSpec spec{.groups = 20,
                                .prompts_per_group = 4,
                                .system_tokens = 48,
                                .question_tokens = 8,
                                .output_tokens = 2};
    runner.run_open_loop(poisson_shared_prefix(9, 200.0, 2000, spec));
    return static_cast<double>(engine.stats().prefix_cache_hits) /
           static_cast<double>(engine.stats().prefix_cache_queries);
  };
  const double small = hit_ratio(64), large = hit_ratio(1024);
  EXPECT_GT(large, 0.8);
  EXPECT_LT(small, large * 0.6);
}

}  // namespace
}  // namespace infergate::sim

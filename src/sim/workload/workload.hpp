// Request mixes that the field benchmarks routers with (random prompts, and shared-prefix groups as
// in the vLLM and llm-d prefix-caching benchmarks),
// generated deterministically from a seed. Prompts are text whose length in the simulator's
// tokens is exact (4 bytes a token), so "a 204-token prompt" means the same thing to the
// simulator, the gateway's prefix scorer and a benchmark report.
//
// Thread-safety: a generator is used by one thread.
#pragma once

#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "common/clock.hpp"

namespace infergate::sim {

struct WorkloadItem {
  Duration arrival{};  // offset from the start of the run
  std::string prompt;
  int output_tokens = 0;
  std::string lora;  // empty: the base model
  int group = -1;    // shared-prefix group, -1 when none
};

// Random text of exactly `tokens` simulator tokens.
std::string random_text(std::mt19937_64& rng, int tokens);

struct RandomPromptsSpec {
  int prompt_tokens = 204;
  int output_tokens = 64;
};

// inference-perf's shared_prefix: `groups` system prompts of `system_tokens`, each followed by
// one of `prompts_per_group` questions of `question_tokens`. Requests draw a (group, question)
// uniformly, so the full prompt repeats once every groups x prompts requests on average.
struct SharedPrefixSpec {
  int groups = 10;
  int prompts_per_group = 10;
  int system_tokens = 128;
  int question_tokens = 64;
  int output_tokens = 64;
};

class WorkloadGenerator {
 public:
  explicit WorkloadGenerator(std::uint64_t seed) : rng_(seed) {}
  // Poisson arrivals at `rate` requests per second.
  Duration next_poisson_gap(double rate);
  WorkloadItem random_prompt(const RandomPromptsSpec& spec);
  WorkloadItem shared_prefix(const SharedPrefixSpec& spec);
  std::mt19937_64& rng() { return rng_; }

 private:
  std::mt19937_64 rng_;
  std::vector<std::string> systems_;    // per group, made on first use
  std::vector<std::string> questions_;  // groups x prompts_per_group
};

// A whole open-loop schedule: `count` requests with Poisson arrivals at `rate`.
std::vector<WorkloadItem> poisson_random_prompts(std::uint64_t seed, double rate, int count,
                                                 const RandomPromptsSpec& spec);
std::vector<WorkloadItem> poisson_shared_prefix(std::uint64_t seed, double rate, int count,
                                                const SharedPrefixSpec& spec);

}  // namespace infergate::sim

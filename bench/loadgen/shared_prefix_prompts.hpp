// Prompts of the shared-prefix workload (inference-perf's shared_prefix) for infergate-loadgen:
// `groups` system prompts of `system_tokens`, each request one of them followed by a question
// of `question_tokens`. The system prompts (and the fixed question pool) come from their own
// seed, so two runs with different request seeds, a warm-up and a measurement, share their
// system prompts while drawing different requests. With `distinct_questions`, every request
// gets a fresh question: only the system prompt can hit a prefix cache. With a skew, some
// groups are asked far more often than others (a Zipf law).
//
// Thread-safety: used by one thread.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace infergate::bench {

struct SharedPrefixShape {
  int groups = 16;
  int prompts_per_group = 8;  // the fixed question pool per group (ignored when distinct)
  int system_tokens = 1024;
  int question_tokens = 64;
  bool distinct_questions = false;
  // Group popularity: group k (from 0) is drawn with weight 1 / (k + 1)^skew, a Zipf law
  // (0: uniform, as inference-perf draws them; 1: the first group ten times the tenth's).
  double group_skew = 0;
};

class SharedPrefixPrompts {
 public:
  SharedPrefixPrompts(const SharedPrefixShape& shape, std::uint64_t prefix_seed);
  // The next prompt; the group and question are drawn from `rng` (the request stream's).
  std::string next(std::mt19937_64& rng);

 private:
  SharedPrefixShape shape_;
  std::vector<std::string> systems_;
  std::vector<std::string> questions_;  // groups x prompts_per_group, empty when distinct
  std::discrete_distribution<std::size_t> popularity_;  // with a skew
};

}  // namespace infergate::bench

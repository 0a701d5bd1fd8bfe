#include "shared_prefix_prompts.hpp"

#include <cmath>

#include "sim/workload/workload.hpp"

namespace infergate::bench {

SharedPrefixPrompts::SharedPrefixPrompts(const SharedPrefixShape& shape, std::uint64_t prefix_seed)
    : shape_(shape) {
  std::mt19937_64 rng(prefix_seed);
  for (int g = 0; g < shape_.groups; ++g)
    systems_.push_back(sim::random_text(rng, shape_.system_tokens));
  if (!shape_.distinct_questions)
    for (int q = 0; q < shape_.groups * shape_.prompts_per_group; ++q)
      questions_.push_back(sim::random_text(rng, shape_.question_tokens));
  if (shape_.group_skew > 0) {
    std::vector<double> weights;
    for (int g = 0; g < shape_.groups; ++g)
      weights.push_back(1.0 / std::pow(static_cast<double>(g + 1), shape_.group_skew));
    popularity_ = std::discrete_distribution<std::size_t>(weights.begin(), weights.end());
  }
}

std::string SharedPrefixPrompts::next(std::mt19937_64& rng) {
  const auto group =
      shape_.group_skew > 0 ? popularity_(rng) : static_cast<std::size_t>(rng() % systems_.size());
  std::string prompt = systems_[group];
  if (shape_.distinct_questions) {
    prompt += sim::random_text(rng, shape_.question_tokens);
  } else {
    const auto per_group = static_cast<std::size_t>(shape_.prompts_per_group);
    prompt += questions_[group * per_group + static_cast<std::size_t>(rng() % per_group)];
  }
  return prompt;
}

}  // namespace infergate::bench

#include "shared_prefix_prompts.hpp"

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
}

std::string SharedPrefixPrompts::next(std::mt19937_64& rng) {
  const auto group = static_cast<std::size_t>(rng() % systems_.size());
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

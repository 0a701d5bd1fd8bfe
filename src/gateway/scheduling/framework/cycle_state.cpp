#include "gateway/scheduling/framework/cycle_state.hpp"

#include "gateway/scheduling/prefix/prefix_index.hpp"

namespace infergate::gateway::scheduling {

std::span<const std::uint64_t> CycleState::prefix_blocks(const PromptBlockOptions& options) {
  if (!hashed_) {
    prefix::hash_prompt_blocks(request.target_model, request.prompt, options, blocks_);
    hashed_ = true;
  }
  return blocks_;
}

std::size_t CycleState::match_prefix(std::span<Candidate* const> candidates,
                                     const PromptBlockOptions& options) {
  const std::span<const std::uint64_t> blocks = prefix_blocks(options);
  if (matched_ || !prefix_index) return blocks.size();
  matched_ = true;
  ids_scratch_.resize(candidates.size());
  matched_scratch_.assign(candidates.size(), 0);
  for (std::size_t i = 0; i < candidates.size(); ++i) ids_scratch_[i] = candidates[i]->endpoint->id;
  if (!blocks.empty()) prefix_index->match(blocks, ids_scratch_, matched_scratch_);
  for (std::size_t i = 0; i < candidates.size(); ++i)
    candidates[i]->prefix_matched = matched_scratch_[i];
  return blocks.size();
}

}  // namespace infergate::gateway::scheduling

#include "gateway/scheduling/framework/cycle_state.hpp"

#include "gateway/scheduling/prefix/prefix_index.hpp"

namespace infergate::gateway::scheduling {

namespace {

// Block-hash buffers of ended decisions, kept for the next requests of the thread (a bounded
// number: about the requests a worker has in flight).
thread_local std::vector<std::vector<std::uint64_t>> spare_blocks;
constexpr std::size_t kMaxSpareBlocks = 64;

}  // namespace

CycleState::~CycleState() {
  if (blocks_.capacity() > 0 && spare_blocks.size() < kMaxSpareBlocks)
    spare_blocks.push_back(std::move(blocks_));
}

std::span<const std::uint64_t> CycleState::prefix_blocks(const PromptBlockOptions& options) {
  if (!hashed_) {
    if (blocks_.capacity() == 0 && !spare_blocks.empty()) {
      blocks_ = std::move(spare_blocks.back());
      spare_blocks.pop_back();
    }
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
  // The decision runs to its end on this thread: its scratch is the thread's.
  thread_local std::vector<std::uint32_t> ids;
  thread_local std::vector<std::uint32_t> matched;
  ids.resize(candidates.size());
  matched.assign(candidates.size(), 0);
  for (std::size_t i = 0; i < candidates.size(); ++i) ids[i] = candidates[i]->endpoint->id;
  if (!blocks.empty()) prefix_index->match(blocks, ids, matched);
  for (std::size_t i = 0; i < candidates.size(); ++i) candidates[i]->prefix_matched = matched[i];
  return blocks.size();
}

}  // namespace infergate::gateway::scheduling

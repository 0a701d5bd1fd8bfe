#include "gateway/scheduling/prefix/prompt_blocks.hpp"

#include <xxhash.h>

#include <algorithm>

namespace infergate::gateway::scheduling::prefix {

void hash_prompt_blocks(std::string_view model, std::string_view prompt,
                        const PromptBlockOptions& options, std::vector<std::uint64_t>& out) {
  out.clear();
  const std::size_t block = options.block_chars;
  if (block == 0) return;
  const std::size_t count = std::min(prompt.size() / block, options.max_blocks);
  if (count == 0) return;
  out.resize(count);
  // No block's XXH64 depends on an earlier one, so the CPU runs several at once while the
  // short chain of mixes follows behind. Interleaving four blocks by hand, or inlining XXH64
  // (XXH_INLINE_ALL), measured the same: the loop is bound by the multiplier's throughput.
  std::uint64_t link = XXH64(model.data(), model.size(), 0);
  const char* text = prompt.data();
  for (std::size_t i = 0; i < count; ++i) {
    link = chain_mix(link, XXH64(text + i * block, block, 0));
    out[i] = link;
  }
}

}  // namespace infergate::gateway::scheduling::prefix

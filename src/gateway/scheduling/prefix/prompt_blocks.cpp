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
  // No block's hash depends on an earlier one, so the CPU runs several at once while the
  // short chain of mixes follows behind. (Interleaving four blocks by hand, or inlining the
  // hash with XXH_INLINE_ALL, measured the same: the loop is bound by the multiplier.)
  std::uint64_t link = XXH3_64bits(model.data(), model.size());
  const char* text = prompt.data();
  for (std::size_t i = 0; i < count; ++i) {
    link = chain_mix(link, XXH3_64bits(text + i * block, block));
    out[i] = link;
  }
}

}  // namespace infergate::gateway::scheduling::prefix

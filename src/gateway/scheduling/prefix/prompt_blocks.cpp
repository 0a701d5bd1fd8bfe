#include "gateway/scheduling/prefix/prompt_blocks.hpp"

#include <xxhash.h>

#include <algorithm>
#include <string>

namespace infergate::gateway::scheduling::prefix {

void hash_prompt_blocks(std::string_view model, std::span<const std::string_view> pieces,
                        const PromptBlockOptions& options, std::vector<std::uint64_t>& out) {
  out.clear();
  const std::size_t block = options.block_chars;
  if (block == 0) return;
  std::size_t total = 0;
  for (const std::string_view p : pieces) total += p.size();
  const std::size_t count = std::min(total / block, options.max_blocks);
  if (count == 0) return;
  out.resize(count);
  thread_local std::string across;  // a block begun in earlier pieces, gathered
  across.clear();
  std::uint64_t link = XXH3_64bits(model.data(), model.size());
  std::size_t i = 0;
  for (const std::string_view piece : pieces) {
    std::size_t at = 0;
    if (!across.empty()) {
      at = std::min(block - across.size(), piece.size());
      across.append(piece.data(), at);
      if (across.size() < block) continue;
      link = chain_mix(link, XXH3_64bits(across.data(), block));
      out[i++] = link;
      across.clear();
      if (i == count) return;
    }
    // The piece's whole blocks where they lie. No block's hash depends on an earlier one, so the
    // CPU runs several at once while the short chain of mixes follows behind. (Interleaving four
    // blocks by hand, or inlining the hash with XXH_INLINE_ALL, measured the same: the loop is
    // bound by the multiplier.)
    const char* text = piece.data() + at;
    const std::size_t whole = std::min((piece.size() - at) / block, count - i);
    for (std::size_t k = 0; k < whole; ++k) {
      link = chain_mix(link, XXH3_64bits(text + k * block, block));
      out[i++] = link;
    }
    if (i == count) return;
    at += whole * block;
    across.assign(piece.data() + at, piece.size() - at);  // the next block's start
  }
}

void hash_prompt_blocks(std::string_view model, std::string_view prompt,
                        const PromptBlockOptions& options, std::vector<std::uint64_t>& out) {
  hash_prompt_blocks(model, std::span<const std::string_view>(&prompt, 1), options, out);
}

}  // namespace infergate::gateway::scheduling::prefix

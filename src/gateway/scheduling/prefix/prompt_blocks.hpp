// The prefix-cache scorer's view of a prompt: a chain of block hashes.
//
// The prompt is cut into blocks of `block_chars` bytes (about 16 tokens at 4 characters a
// token); a trailing partial block is ignored. Block i's hash is XXH64 (seed 0) over the
// previous hash as 8 little-endian bytes followed by the block's bytes; the "previous hash" of
// block 0 is XXH64(model). So equal hashes at position i mean (with overwhelming probability)
// the same model and the same first i + 1 blocks: a hash names a whole prefix.
//
// Thread-safety: a pure function.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace infergate::gateway::scheduling::prefix {

struct PromptBlockOptions {
  std::size_t block_chars = 64;
  std::size_t max_blocks = 256;
};

// Clears `out` and fills it with at most `max_blocks` hashes. Allocation-free when `out`
// already has the capacity.
void hash_prompt_blocks(std::string_view model, std::string_view prompt,
                        const PromptBlockOptions& options, std::vector<std::uint64_t>& out);

// One step of the chain: XXH64 (seed 0) over `previous` as 8 little-endian bytes followed by
// `block`, without copying them together.
std::uint64_t chain_block_hash(std::uint64_t previous, std::string_view block);

}  // namespace infergate::gateway::scheduling::prefix

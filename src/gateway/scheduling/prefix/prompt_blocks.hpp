// The prefix-cache scorer's view of a prompt: a chain of block hashes.
//
// The prompt is cut into blocks of `block_chars` bytes (about 16 tokens at 4 characters a
// token); a trailing partial block is ignored. Each block is hashed on its own, XXH3's 64-bit
// hash (no seed) of its bytes, and the chain is made by folding those into the previous link:
//
//   h[-1] = XXH3_64(model),  h[i] = chain_mix(h[i - 1], XXH3_64(block i))
//
// So equal hashes at position i mean (with overwhelming probability) the same model and the
// same first i + 1 blocks: a hash names a whole prefix.
//
// Why in two parts: when a block's hash also covered the previous hash, every block waited for
// the one before it (about 60 cycles a block with XXH64), and 250 blocks of 64 characters took
// 3.6 us. Hashed on their own, the blocks overlap in the CPU and only the few-cycle mix is a
// chain.
//
// Why XXH3 (the spec says xxhash64, as upstream's picker uses): the hashes never leave the
// process, and on 64-byte blocks XXH3 needs half the multiplies of XXH64, whose merge and final
// rounds are paid per block. 256 blocks (16,000 characters): 0.81 us with XXH3, 2.05 us with
// XXH64, against 0.67 us for one XXH64 pass over the same characters (bench_prefix_index,
// BM_HashPromptBlocks and BM_Xxh64Pass, medians of 5 on the 2-core development machine;
// docs/benchmarks.md).
//
// Thread-safety: pure functions.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <span>
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
// The same over a prompt in pieces, read in order as one text (the same hashes as over the
// pieces joined): a block within a piece is hashed where it lies, one across pieces from a
// copy of its bytes.
void hash_prompt_blocks(std::string_view model, std::span<const std::string_view> pieces,
                        const PromptBlockOptions& options, std::vector<std::uint64_t>& out);

// One link of the chain: the previous link and the block's own hash, mixed by one
// multiply-xorshift of (previous ^ rotl(block_hash, 27)).
//
// Why this keeps the chain's property: for a fixed `previous` the link is a bijection of
// `block_hash` (xor, then an odd multiplier and an xorshift, each invertible), and for a fixed
// `block_hash` a bijection of `previous`. Two prompts that differ first at block j thus get
// different links from j on unless XXH3 collides on the two blocks, or at some later block
// the XOR of the two block hashes (rotated) happens to equal the XOR of the two previous links -
// each a 2^-64 chance for a hash as good as XXH3. The rotation makes the mix asymmetric, so a link
// is not the same with `previous` and `block_hash` swapped, and it is applied to the block hash,
// which is ready early, rather than to `previous`, which is on the chain's critical path (xor,
// multiply, shift, xor: about 6 cycles a block). The xorshift folds the product's high half
// into its low half, whose bits would otherwise depend only on the input's low bits: the
// prefix index shards by the low bits.
constexpr std::uint64_t chain_mix(std::uint64_t previous, std::uint64_t block_hash) {
  constexpr std::uint64_t kOddMultiplier = 0x9E3779B97F4A7C15ULL;  // 2^64 / golden ratio
  const std::uint64_t product = (previous ^ std::rotl(block_hash, 27)) * kOddMultiplier;
  return product ^ (product >> 32);
}

}  // namespace infergate::gateway::scheduling::prefix

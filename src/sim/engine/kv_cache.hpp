// The paged KV cache of one simulated replica, with automatic prefix caching as vLLM does it.
//
// Memory is `num_blocks` blocks of `block_size` tokens. A running sequence holds references
// to its blocks. A full block is identified by a chained hash (its tokens, the previous
// block's hash and the LoRA adapter), so two prompts that share a prefix share its blocks.
// Blocks whose reference count drops to zero stay cached, on a free list in least-recently
// freed order; allocation takes from the front of that list, evicting the cached content of
// the least recently used block first. A sequence's blocks are freed tail first, so its last
// blocks (least likely to be shared) are evicted before its first.
//
// Thread-safety: none; one replica's engine owns its cache on one thread.
#pragma once

#include <cstdint>
#include <span>
#include <unordered_map>
#include <vector>

#include "sim/engine/tokenizer.hpp"

namespace infergate::sim {

using BlockHash = std::uint64_t;
using BlockId = std::int32_t;

// Hash of one full block: chained on the previous block's hash, and keyed by `extra_key`
// (the LoRA adapter), so the same text under two adapters never shares KV.
BlockHash hash_block(BlockHash parent, std::span<const TokenId> tokens, std::uint64_t extra_key);

class KvCache {
 public:
  KvCache(int num_blocks, int block_size, bool enable_prefix_caching);

  int num_blocks() const { return static_cast<int>(blocks_.size()); }
  int block_size() const { return block_size_; }
  int num_free_blocks() const { return free_count_; }
  bool prefix_caching() const { return prefix_caching_; }
  // Fraction of blocks held by sequences (vLLM's kv_cache_usage_perc).
  double usage() const {
    return blocks_.empty() ? 0.0 : 1.0 - static_cast<double>(free_count_) / num_blocks();
  }

  struct PrefixHit {
    int blocks = 0;       // leading blocks of `hashes` found in the cache
    int free_blocks = 0;  // of those, how many are on the free list (reusing them costs free space)
  };
  PrefixHit lookup(std::span<const BlockHash> hashes) const;

  // Takes a reference on the first `n` blocks of `hashes`, which lookup() found cached.
  void acquire_cached(std::span<const BlockHash> hashes, int n, std::vector<BlockId>& out);
  // Appends `n` fresh blocks to `out`, evicting least recently used cached blocks. Returns
  // false, changing nothing, when fewer than `n` blocks are free.
  bool allocate(int n, std::vector<BlockId>& out);
  // Drops one reference on each block; blocks that reach zero go to the free list, the last
  // block of `blocks` first.
  void release(std::span<const BlockId> blocks);
  // Records that `block` now holds the full block with `hash`, so later prompts can hit it.
  void register_full_block(BlockId block, BlockHash hash);

  int ref_count(BlockId block) const { return blocks_[static_cast<std::size_t>(block)].ref; }
  bool contains(BlockHash hash) const { return cached_.contains(hash); }
  std::size_t cached_block_count() const { return cached_.size(); }

 private:
  struct Block {
    int ref = 0;
    bool hashed = false;
    bool on_free_list = false;
    BlockHash hash = 0;
    BlockId prev = -1;
    BlockId next = -1;
  };

  Block& at(BlockId id) { return blocks_[static_cast<std::size_t>(id)]; }
  void push_free_tail(BlockId id);
  void unlink_free(BlockId id);
  BlockId pop_free_head();

  int block_size_;
  bool prefix_caching_;
  std::vector<Block> blocks_;
  BlockId free_head_ = -1;
  BlockId free_tail_ = -1;
  int free_count_ = 0;
  std::unordered_map<BlockHash, BlockId> cached_;
};

}  // namespace infergate::sim

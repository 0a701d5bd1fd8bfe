#include "sim/engine/kv_cache.hpp"

#include <xxhash.h>

#include <cassert>

namespace infergate::sim {

BlockHash hash_block(BlockHash parent, std::span<const TokenId> tokens, std::uint64_t extra_key) {
  return XXH64(tokens.data(), tokens.size_bytes(), parent ^ (extra_key * 0x9e3779b97f4a7c15ULL));
}

KvCache::KvCache(int num_blocks, int block_size, bool enable_prefix_caching)
    : block_size_(block_size), prefix_caching_(enable_prefix_caching) {
  assert(num_blocks > 0 && block_size > 0);
  blocks_.resize(static_cast<std::size_t>(num_blocks));
  for (BlockId id = 0; id < num_blocks; ++id) push_free_tail(id);
}

void KvCache::push_free_tail(BlockId id) {
  Block& b = at(id);
  b.on_free_list = true;
  b.prev = free_tail_;
  b.next = -1;
  if (free_tail_ >= 0)
    at(free_tail_).next = id;
  else
    free_head_ = id;
  free_tail_ = id;
  ++free_count_;
}

void KvCache::unlink_free(BlockId id) {
  Block& b = at(id);
  assert(b.on_free_list);
  if (b.prev >= 0)
    at(b.prev).next = b.next;
  else
    free_head_ = b.next;
  if (b.next >= 0)
    at(b.next).prev = b.prev;
  else
    free_tail_ = b.prev;
  b.prev = b.next = -1;
  b.on_free_list = false;
  --free_count_;
}

BlockId KvCache::pop_free_head() {
  const BlockId id = free_head_;
  unlink_free(id);
  Block& b = at(id);
  if (b.hashed) {  // evict its cached content
    auto it = cached_.find(b.hash);
    if (it != cached_.end() && it->second == id) cached_.erase(it);
    b.hashed = false;
  }
  return id;
}

KvCache::PrefixHit KvCache::lookup(std::span<const BlockHash> hashes) const {
  PrefixHit hit;
  if (!prefix_caching_) return hit;
  for (BlockHash h : hashes) {
    auto it = cached_.find(h);
    if (it == cached_.end()) break;
    ++hit.blocks;
    if (blocks_[static_cast<std::size_t>(it->second)].ref == 0) ++hit.free_blocks;
  }
  return hit;
}

void KvCache::acquire_cached(std::span<const BlockHash> hashes, int n, std::vector<BlockId>& out) {
  for (int i = 0; i < n; ++i) {
    const BlockId id = cached_.at(hashes[static_cast<std::size_t>(i)]);
    Block& b = at(id);
    if (b.ref == 0) unlink_free(id);
    ++b.ref;
    out.push_back(id);
  }
}

bool KvCache::allocate(int n, std::vector<BlockId>& out) {
  if (n > free_count_) return false;
  for (int i = 0; i < n; ++i) {
    const BlockId id = pop_free_head();
    at(id).ref = 1;
    out.push_back(id);
  }
  return true;
}

void KvCache::release(std::span<const BlockId> blocks) {
  for (auto it = blocks.rbegin(); it != blocks.rend(); ++it) {
    Block& b = at(*it);
    assert(b.ref > 0);
    if (--b.ref == 0) push_free_tail(*it);
  }
}

void KvCache::register_full_block(BlockId block, BlockHash hash) {
  if (!prefix_caching_) return;
  Block& b = at(block);
  if (b.hashed) return;
  // A block with the same content may already be cached (two requests computed it at once);
  // the first stays the canonical copy, as in vLLM.
  if (cached_.try_emplace(hash, block).second) {
    b.hashed = true;
    b.hash = hash;
  }
}

}  // namespace infergate::sim

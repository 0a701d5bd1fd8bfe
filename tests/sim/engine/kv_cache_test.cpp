#include "sim/engine/kv_cache.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace infergate::sim {
namespace {

std::vector<BlockHash> chain(std::initializer_list<TokenId> first_tokens) {
  std::vector<BlockHash> hashes;
  BlockHash parent = 0;
  for (TokenId t : first_tokens) {
    const std::vector<TokenId> block(4, t);
    parent = hash_block(parent, block, 0);
    hashes.push_back(parent);
  }
  return hashes;
}

TEST(BlockHash, ChainsOnParentAndAdapter) {
  const std::vector<TokenId> block = {1, 2, 3, 4};
  EXPECT_EQ(hash_block(0, block, 0), hash_block(0, block, 0));
  EXPECT_NE(hash_block(0, block, 0), hash_block(1, block, 0));
  EXPECT_NE(hash_block(0, block, 0), hash_block(0, block, 7));
}

TEST(KvCache, AllocatesAndReleasesBlocks) {
  KvCache cache(8, 4, true);
  std::vector<BlockId> blocks;
  ASSERT_TRUE(cache.allocate(5, blocks));
  EXPECT_EQ(cache.num_free_blocks(), 3);
  EXPECT_DOUBLE_EQ(cache.usage(), 5.0 / 8);
  EXPECT_FALSE(cache.allocate(4, blocks)) << "not enough free blocks";
  EXPECT_EQ(blocks.size(), 5u) << "a failed allocation changes nothing";
  cache.release(blocks);
  EXPECT_EQ(cache.num_free_blocks(), 8);
  EXPECT_DOUBLE_EQ(cache.usage(), 0.0);
}

TEST(KvCache, RegisteredBlocksAreFoundAfterRelease) {
  KvCache cache(8, 4, true);
  const auto hashes = chain({1, 2, 3});
  std::vector<BlockId> blocks;
  ASSERT_TRUE(cache.allocate(3, blocks));
  for (int i = 0; i < 3; ++i) cache.register_full_block(blocks[i], hashes[i]);
  cache.release(blocks);

  const auto hit = cache.lookup(hashes);
  EXPECT_EQ(hit.blocks, 3);
  EXPECT_EQ(hit.free_blocks, 3);
  // A prompt that diverges after the first block hits only that block.
  auto other = chain({1, 9, 3});
  EXPECT_EQ(cache.lookup(other).blocks, 1);
}

TEST(KvCache, SharedBlocksAreReferenceCounted) {
  KvCache cache(8, 4, true);
  const auto hashes = chain({1, 2});
  std::vector<BlockId> a;
  ASSERT_TRUE(cache.allocate(2, a));
  cache.register_full_block(a[0], hashes[0]);
  cache.register_full_block(a[1], hashes[1]);

  std::vector<BlockId> b;
  cache.acquire_cached(hashes, 2, b);
  EXPECT_EQ(b, a);
  EXPECT_EQ(cache.ref_count(a[0]), 2);
  EXPECT_EQ(cache.num_free_blocks(), 6);
  cache.release(a);
  EXPECT_EQ(cache.ref_count(a[0]), 1);
  EXPECT_EQ(cache.num_free_blocks(), 6) << "still held by b";
  cache.release(b);
  EXPECT_EQ(cache.num_free_blocks(), 8);
}

TEST(KvCache, EvictsLeastRecentlyFreedBlocksFirstAndNeverBlocksInUse) {
  KvCache cache(4, 4, true);
  const auto old_hashes = chain({1});
  const auto new_hashes = chain({2});
  const auto held_hashes = chain({3});
  std::vector<BlockId> old_blocks, new_blocks, held;
  ASSERT_TRUE(cache.allocate(1, old_blocks));
  ASSERT_TRUE(cache.allocate(1, new_blocks));
  ASSERT_TRUE(cache.allocate(1, held));
  cache.register_full_block(old_blocks[0], old_hashes[0]);
  cache.register_full_block(new_blocks[0], new_hashes[0]);
  cache.register_full_block(held[0], held_hashes[0]);
  cache.release(old_blocks);  // freed first: least recently used
  cache.release(new_blocks);

  std::vector<BlockId> fresh;
  ASSERT_TRUE(cache.allocate(1, fresh));  // the never-used block
  EXPECT_TRUE(cache.contains(old_hashes[0]));
  ASSERT_TRUE(cache.allocate(1, fresh));  // evicts the older cached block
  EXPECT_FALSE(cache.contains(old_hashes[0]));
  EXPECT_TRUE(cache.contains(new_hashes[0]));
  ASSERT_TRUE(cache.allocate(1, fresh));
  EXPECT_FALSE(cache.contains(new_hashes[0]));
  EXPECT_TRUE(cache.contains(held_hashes[0])) << "a block in use is never evicted";
  EXPECT_FALSE(cache.allocate(1, fresh));
}

TEST(KvCache, FreesASequenceTailFirst) {
  KvCache cache(3, 4, true);
  const auto hashes = chain({1, 2, 3});
  std::vector<BlockId> blocks;
  ASSERT_TRUE(cache.allocate(3, blocks));
  for (int i = 0; i < 3; ++i) cache.register_full_block(blocks[i], hashes[i]);
  cache.release(blocks);
  std::vector<BlockId> fresh;
  ASSERT_TRUE(cache.allocate(1, fresh));
  EXPECT_FALSE(cache.contains(hashes[2])) << "the last block of the sequence goes first";
  EXPECT_EQ(cache.lookup(hashes).blocks, 2) << "the prefix survives";
}

TEST(KvCache, ReusingAFreeCachedBlockTakesItOffTheFreeList) {
  KvCache cache(2, 4, true);
  const auto hashes = chain({1});
  std::vector<BlockId> a;
  ASSERT_TRUE(cache.allocate(1, a));
  cache.register_full_block(a[0], hashes[0]);
  cache.release(a);
  std::vector<BlockId> b;
  cache.acquire_cached(hashes, 1, b);
  EXPECT_EQ(cache.num_free_blocks(), 1);
  std::vector<BlockId> c;
  ASSERT_TRUE(cache.allocate(1, c));
  EXPECT_NE(c[0], b[0]);
  EXPECT_TRUE(cache.contains(hashes[0]));
}

TEST(KvCache, DisabledPrefixCachingNeverHits) {
  KvCache cache(4, 4, false);
  const auto hashes = chain({1});
  std::vector<BlockId> a;
  ASSERT_TRUE(cache.allocate(1, a));
  cache.register_full_block(a[0], hashes[0]);
  cache.release(a);
  EXPECT_EQ(cache.lookup(hashes).blocks, 0);
}

}  // namespace
}  // namespace infergate::sim

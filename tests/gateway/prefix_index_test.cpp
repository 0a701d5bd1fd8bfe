#include "gateway/scheduling/prefix/prefix_index.hpp"

#include <gtest/gtest.h>
#include <xxhash.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <list>
#include <map>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "gateway/scheduling/prefix/block_table.hpp"
#include "gateway/scheduling/prefix/prompt_blocks.hpp"
#include "gateway/scheduling/prefix/reclaimer.hpp"

namespace infergate::gateway::scheduling::prefix {
namespace {

std::string text(std::size_t chars, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::string s(chars, ' ');
  for (char& c : s) c = static_cast<char>('a' + rng() % 26);
  return s;
}

std::vector<std::uint64_t> hashes(std::string_view model, std::string_view prompt,
                                  PromptBlockOptions options = {}) {
  std::vector<std::uint64_t> out;
  hash_prompt_blocks(model, prompt, options, out);
  return out;
}

// The definition, spelled out: XXH64(previous hash as 8 little-endian bytes + block).
std::vector<std::uint64_t> reference_hashes(std::string_view model, std::string_view prompt,
                                            std::size_t block, std::size_t max_blocks) {
  std::vector<std::uint64_t> out;
  std::uint64_t previous = XXH64(model.data(), model.size(), 0);
  for (std::size_t i = 0; (i + 1) * block <= prompt.size() && i < max_blocks; ++i) {
    std::string buffer(8, '\0');
    for (int b = 0; b < 8; ++b) buffer[b] = static_cast<char>((previous >> (8 * b)) & 0xff);
    buffer.append(prompt.substr(i * block, block));
    previous = XXH64(buffer.data(), buffer.size(), 0);
    out.push_back(previous);
  }
  return out;
}

// ---- hashing ----

TEST(PromptBlocks, FollowsTheChainDefinition) {
  const std::string prompt = text(64 * 5, 1);
  EXPECT_EQ(hashes("llama", prompt), reference_hashes("llama", prompt, 64, 256));
  // Other block sizes than the usual 64.
  const std::string long_prompt = text(3000 * 3, 2);
  EXPECT_EQ(hashes("llama", long_prompt, {3000, 256}),
            reference_hashes("llama", long_prompt, 3000, 256));
}

TEST(PromptBlocks, EachStepIsXxh64OfThePreviousHashAndTheBlock) {
  // Every length, so that each path of XXH64 (stripes, 8-, 4- and 1-byte tails) is covered.
  std::mt19937_64 rng(42);
  const std::string bytes = text(600, 15);
  for (std::size_t size = 0; size <= 300; ++size) {
    const std::uint64_t previous = rng();
    std::string buffer(8, '\0');
    for (int b = 0; b < 8; ++b) buffer[b] = static_cast<char>((previous >> (8 * b)) & 0xff);
    const std::string_view block(bytes.data() + size % 7, size);
    buffer.append(block);
    ASSERT_EQ(chain_block_hash(previous, block), XXH64(buffer.data(), buffer.size(), 0)) << size;
  }
}

TEST(PromptBlocks, SamePrefixGivesTheSameLeadingHashes) {
  const std::string shared = text(64 * 3, 3);
  const auto a = hashes("m", shared + text(64 * 2, 4));
  const auto b = hashes("m", shared + text(64 * 2, 5));
  ASSERT_EQ(a.size(), 5u);
  ASSERT_EQ(b.size(), 5u);
  EXPECT_TRUE(std::equal(a.begin(), a.begin() + 3, b.begin()));
  EXPECT_NE(a[3], b[3]);
  EXPECT_NE(a[4], b[4]);
}

TEST(PromptBlocks, ABlockHashDependsOnEverythingBeforeIt) {
  // Same block 1, different block 0: the chain makes block 1's hash differ too.
  const std::string tail = text(64, 6);
  const auto a = hashes("m", text(64, 7) + tail);
  const auto b = hashes("m", text(64, 8) + tail);
  EXPECT_NE(a[1], b[1]);
}

TEST(PromptBlocks, TheModelSeedsTheChain) {
  const std::string prompt = text(64 * 4, 9);
  const auto a = hashes("model-a", prompt);
  const auto b = hashes("model-b", prompt);
  for (std::size_t i = 0; i < a.size(); ++i) EXPECT_NE(a[i], b[i]) << i;
}

TEST(PromptBlocks, APartialLastBlockIsIgnored) {
  const std::string prompt = text(64 * 3 + 63, 10);
  const auto partial = hashes("m", prompt);
  EXPECT_EQ(partial.size(), 3u);
  EXPECT_EQ(partial, hashes("m", prompt.substr(0, 64 * 3)));
}

TEST(PromptBlocks, StopsAtMaxBlocks) {
  const std::string prompt = text(64 * 300, 11);
  const auto capped = hashes("m", prompt);
  ASSERT_EQ(capped.size(), 256u);
  EXPECT_EQ(capped, reference_hashes("m", prompt, 64, 256));
  EXPECT_EQ(hashes("m", prompt, {64, 10}).size(), 10u);
}

TEST(PromptBlocks, EmptyAndShortPromptsHaveNoBlocks) {
  std::vector<std::uint64_t> out = {1, 2, 3};
  hash_prompt_blocks("m", "", {}, out);
  EXPECT_TRUE(out.empty());
  hash_prompt_blocks("m", text(63, 12), {}, out);
  EXPECT_TRUE(out.empty());
  hash_prompt_blocks("m", text(640, 12), {0, 256}, out);
  EXPECT_TRUE(out.empty());
}

TEST(PromptBlocks, ReusesTheOutputBuffer) {
  std::vector<std::uint64_t> out;
  out.reserve(256);
  const std::uint64_t* data = out.data();
  hash_prompt_blocks("m", text(16000, 13), {}, out);
  EXPECT_EQ(out.size(), 250u);
  EXPECT_EQ(out.data(), data);
  hash_prompt_blocks("m", text(640, 14), {}, out);
  EXPECT_EQ(out.size(), 10u);
  EXPECT_EQ(out.data(), data);
}

// ---- index ----

std::vector<std::uint64_t> chain(std::uint64_t family, std::size_t n) {
  std::vector<std::uint64_t> blocks;
  for (std::size_t i = 0; i < n; ++i) blocks.push_back(family * 1'000'003 + i + 1);
  return blocks;
}

std::vector<std::uint32_t> match(const PrefixIndex& index, std::span<const std::uint64_t> blocks,
                                 std::vector<EndpointId> candidates) {
  std::vector<std::uint32_t> matched(candidates.size(), 99);
  index.match(blocks, candidates, matched);
  return matched;
}

std::uint32_t match_one(const PrefixIndex& index, std::span<const std::uint64_t> blocks,
                        EndpointId endpoint) {
  return match(index, blocks, {endpoint})[0];
}

TEST(PrefixIndex, MatchCountsLeadingBlocksPerCandidate) {
  PrefixIndex index;
  const auto blocks = chain(1, 10);
  index.record(1, std::span(blocks).first(10));
  index.record(2, std::span(blocks).first(4));
  index.record(3, std::span(blocks).subspan(1));  // everything but the first block
  EXPECT_EQ(match(index, blocks, {1, 2, 3, 4, 2}), (std::vector<std::uint32_t>{10, 4, 0, 0, 4}));
  EXPECT_EQ(match(index, std::span(blocks).first(6), {1, 2}), (std::vector<std::uint32_t>{6, 4}));
  EXPECT_EQ(match(index, chain(2, 5), {1, 2, 3}), (std::vector<std::uint32_t>{0, 0, 0}));
  EXPECT_EQ(match(index, {}, {1, 2}), (std::vector<std::uint32_t>{0, 0}));
  EXPECT_TRUE(match(index, blocks, {}).empty());
}

TEST(PrefixIndex, AnyEndpointIdWorks) {
  // Small ids map directly, large ones through a hash; both behave the same.
  PrefixIndex index;
  const auto blocks = chain(1, 4);
  const std::vector<EndpointId> ids = {0, 1, 65535, 65536, 1u << 20, 0xffffffffu};
  for (std::size_t k = 0; k < ids.size(); ++k)
    index.record(ids[k], std::span(blocks).first(k % 4 + 1));
  std::vector<std::uint32_t> expected;
  for (std::size_t k = 0; k < ids.size(); ++k)
    expected.push_back(static_cast<std::uint32_t>(k % 4 + 1));
  EXPECT_EQ(match(index, blocks, ids), expected);
  index.remove_endpoint(65536);
  index.remove_endpoint(1);
  EXPECT_EQ(match(index, blocks, {1, 65536, 0xffffffffu, 2, 70000}),
            (std::vector<std::uint32_t>{0, 0, 2, 0, 0}));
}

TEST(PrefixIndex, TheRunStopsAtTheFirstMissingBlock) {
  PrefixIndex index;
  const auto blocks = chain(1, 6);
  const std::vector<std::uint64_t> with_gap = {blocks[0], blocks[1], blocks[3], blocks[4]};
  index.record(1, with_gap);
  EXPECT_EQ(match_one(index, blocks, 1), 2u);
}

TEST(PrefixIndex, ABlockHashOfZeroIsAnOrdinaryBlock) {
  PrefixIndex index;
  const std::vector<std::uint64_t> blocks = {0, 7, 0};
  index.record(1, blocks);
  EXPECT_EQ(match_one(index, blocks, 1), 3u);
  EXPECT_EQ(index.stats().entries, 2u);
}

TEST(PrefixIndex, EvictsTheLeastRecentlyUsedBlocks) {
  PrefixIndex index({.default_capacity_blocks = 4});
  const std::vector<std::uint64_t> a = {11}, b = {12}, c = {13}, d = {14}, e = {15}, f = {16};
  // Each request's blocks are recorded last to first, so its first block is the most recent.
  index.record(1, std::vector<std::uint64_t>{11, 12});  // recency: 11 12
  index.record(1, std::vector<std::uint64_t>{13, 14});  // 13 14 11 12
  index.record(1, e);                                   // 15 13 14 11, 12 evicted
  EXPECT_EQ(match_one(index, b, 1), 0u);
  EXPECT_EQ(match_one(index, a, 1), 1u);
  index.record(1, a);  // 11 15 13 14
  index.record(1, f);  // 16 11 15 13, 14 evicted
  EXPECT_EQ(match_one(index, d, 1), 0u);
  for (const auto& kept : {a, c, e, f}) EXPECT_EQ(match_one(index, kept, 1), 1u);
  EXPECT_EQ(index.stats().entries, 4u);
  EXPECT_EQ(index.stats().blocks, 4u);
}

TEST(PrefixIndex, ARequestLongerThanTheCapacityKeepsItsLeadingBlocks) {
  PrefixIndex index({.default_capacity_blocks = 3});
  const auto blocks = chain(1, 5);
  index.record(1, blocks);
  EXPECT_EQ(match_one(index, blocks, 1), 3u);
  // The next request's prefix pushes out the old blocks, deepest first.
  const auto other = chain(2, 2);
  index.record(1, other);
  EXPECT_EQ(match_one(index, blocks, 1), 1u);
  EXPECT_EQ(match_one(index, other, 1), 2u);
}

TEST(PrefixIndex, CapacityIsPerEndpoint) {
  PrefixIndex index({.default_capacity_blocks = 2});
  index.set_capacity(2, 5);
  const auto blocks = chain(1, 5);
  index.record(1, blocks);
  index.record(2, blocks);
  EXPECT_EQ(match(index, blocks, {1, 2}), (std::vector<std::uint32_t>{2, 5}));
  EXPECT_EQ(index.stats().entries, 7u);
  EXPECT_EQ(index.stats().blocks, 5u);
}

TEST(PrefixIndex, ShrinkingTheCapacityEvictsAtOnce) {
  PrefixIndex index;
  const auto blocks = chain(1, 8);
  index.record(1, blocks);
  index.record(2, blocks);
  index.set_capacity(1, 3);
  EXPECT_EQ(match(index, blocks, {1, 2}), (std::vector<std::uint32_t>{3, 8}));
  EXPECT_EQ(index.stats().entries, 11u);
  index.set_capacity(1, 0);
  index.record(1, blocks);
  EXPECT_EQ(match(index, blocks, {1, 2}), (std::vector<std::uint32_t>{0, 8}));
  index.set_capacity(1, 100);
  index.record(1, blocks);
  EXPECT_EQ(match_one(index, blocks, 1), 8u);
}

TEST(PrefixIndex, MoveTakesTheBlocksFromOneEndpointToAnother) {
  PrefixIndex index;
  const auto blocks = chain(1, 6);
  const auto other = chain(2, 3);
  index.record(1, blocks);
  index.record(1, other);
  index.record(3, blocks);
  index.move(1, 2, blocks);
  EXPECT_EQ(match(index, blocks, {1, 2, 3}), (std::vector<std::uint32_t>{0, 6, 6}));
  EXPECT_EQ(match_one(index, other, 1), 3u);  // untouched
  // Moving from an endpoint that never had them, or to itself, just records.
  index.move(7, 4, other);
  index.move(4, 4, blocks);
  EXPECT_EQ(match(index, other, {4, 7}), (std::vector<std::uint32_t>{3, 0}));
  EXPECT_EQ(match_one(index, blocks, 4), 6u);
}

TEST(PrefixIndex, RemovingAnEndpointPurgesItsBlocks) {
  PrefixIndex index;
  const auto shared = chain(1, 4);
  const auto own = chain(2, 4);
  index.record(1, shared);
  index.record(1, own);
  index.record(2, shared);
  index.remove_endpoint(1);
  EXPECT_EQ(match(index, shared, {1, 2}), (std::vector<std::uint32_t>{0, 4}));
  EXPECT_EQ(index.stats().blocks, 4u);
  EXPECT_EQ(index.stats().entries, 4u);
  // A newcomer reusing the freed slot starts empty; the same id coming back does too.
  index.record(3, chain(3, 1));
  EXPECT_EQ(match(index, own, {3, 1}), (std::vector<std::uint32_t>{0, 0}));
  index.record(1, chain(4, 2));
  EXPECT_EQ(match_one(index, own, 1), 0u);
  index.remove_endpoint(99);  // unknown: nothing happens
  index.remove_endpoint(1);
  index.remove_endpoint(2);
  index.remove_endpoint(3);
  EXPECT_EQ(index.stats().blocks, 0u);
  EXPECT_EQ(index.stats().entries, 0u);
}

TEST(PrefixIndex, HandlesHundredsOfEndpoints) {
  // Slots past 64 and 128 widen the bitsets while blocks are already held.
  PrefixIndex index;
  const auto common = chain(1, 3);
  std::vector<EndpointId> all;
  for (EndpointId e = 0; e < 300; ++e) {
    const EndpointId id = 1000 + e * 7;
    all.push_back(id);
    std::vector<std::uint64_t> blocks = common;
    blocks.push_back(5'000'000 + e);
    blocks.push_back(6'000'000 + e);
    index.record(id, std::span(blocks).first(2 + e % 3));
  }
  std::vector<std::uint32_t> matched(all.size());
  index.match(common, all, matched);
  for (std::size_t e = 0; e < all.size(); ++e)
    EXPECT_EQ(matched[e], 2 + e % 3 > 3 ? 3u : 2 + e % 3);
  std::vector<std::uint64_t> deeper = common;
  deeper.push_back(5'000'000 + 251);
  index.match(deeper, all, matched);
  for (std::size_t e = 0; e < all.size(); ++e) {
    EXPECT_EQ(matched[e], e == 251 ? 4u : std::min<std::uint32_t>(3, 2 + e % 3)) << e;
  }
}

TEST(PrefixIndex, ABlockHeldByManyEndpointsAndThenByFewer) {
  // Up to five holders sit in the table entry; more move to a bitset, and back under four.
  PrefixIndex index;
  const auto blocks = chain(1, 3);
  std::vector<EndpointId> all;
  for (EndpointId e = 0; e < 9; ++e) {
    all.push_back(e);
    index.record(e, std::span(blocks).first(e % 2 == 0 ? 3 : 2));
    std::vector<std::uint32_t> matched(all.size());
    index.match(blocks, all, matched);
    for (EndpointId d = 0; d <= e; ++d)
      ASSERT_EQ(matched[d], d % 2 == 0 ? 3u : 2u) << e << " " << d;
  }
  for (EndpointId e = 0; e < 9; ++e) {
    index.remove_endpoint(e);
    std::vector<std::uint32_t> matched(all.size());
    index.match(blocks, all, matched);
    for (EndpointId d = 0; d < 9; ++d) {
      ASSERT_EQ(matched[d], d <= e ? 0u : (d % 2 == 0 ? 3u : 2u)) << e << " " << d;
    }
    EXPECT_EQ(index.stats().blocks, e == 8 ? 0u : 3u);
  }
}

TEST(BlockTable, HoldersInlineAndInABitset) {
  Reclaimer reclaimer;
  BlockTable table(reclaimer);
  table.widen(3);  // slots up to 191
  constexpr std::uint64_t kKey = 0x1234'5678'9abc'def1ULL;
  const std::vector<std::uint32_t> slots = {0, 63, 64, 100, 127, 128, 150, 191, 5};
  for (std::size_t n = 0; n < slots.size(); ++n) {
    table.add(kKey, slots[n]);
    table.add(kKey, slots[n]);  // twice: no change
    for (std::size_t k = 0; k < slots.size(); ++k) {
      EXPECT_EQ(table.holds(kKey, slots[k]), k <= n) << n << " " << k;
    }
  }
  EXPECT_EQ(table.stats().overflow_blocks, 1u);
  for (std::size_t n = 0; n < slots.size(); ++n) {
    table.remove(kKey, slots[n]);
    table.remove(kKey, slots[n]);
    for (std::size_t k = 0; k < slots.size(); ++k) {
      EXPECT_EQ(table.holds(kKey, slots[k]), k > n) << n << " " << k;
    }
  }
  EXPECT_EQ(table.stats().blocks, 0u);
  EXPECT_EQ(table.stats().overflow_blocks, 0u);
}

TEST(BlockTable, GrowsAndShrinksWithItsKeys) {
  Reclaimer reclaimer;
  BlockTable table(reclaimer);
  const std::size_t empty_bytes = table.stats().memory_bytes;
  std::mt19937_64 rng(5);
  std::vector<std::uint64_t> keys(100'000);
  for (auto& key : keys) key = BlockTable::key_of(rng());
  for (std::size_t i = 0; i < keys.size(); ++i) table.add(keys[i], i % 7);
  EXPECT_EQ(table.stats().blocks, keys.size());
  for (std::size_t i = 0; i < keys.size(); i += 97) EXPECT_TRUE(table.holds(keys[i], i % 7));
  EXPECT_FALSE(table.holds(BlockTable::key_of(rng()), 0));
  for (std::size_t i = 0; i < keys.size(); ++i) {
    if (i % 2 == 0) table.remove(keys[i], i % 7);
  }
  for (std::size_t i = 0; i < keys.size(); i += 97)
    EXPECT_EQ(table.holds(keys[i], i % 7), i % 2 == 1);
  for (std::size_t i = 1; i < keys.size(); i += 2) table.remove(keys[i], i % 7);
  EXPECT_EQ(table.stats().blocks, 0u);
  EXPECT_LE(table.stats().memory_bytes, empty_bytes + 4096);
}

TEST(PrefixIndex, TracksUpToMaxEndpoints) {
  PrefixIndex index({.default_capacity_blocks = 1});
  const std::vector<std::uint64_t> block = {42};
  for (EndpointId e = 0; e < PrefixIndex::kMaxEndpoints + 5; ++e) index.record(e, block);
  EXPECT_EQ(index.stats().entries, PrefixIndex::kMaxEndpoints);
  EXPECT_EQ(match_one(index, block, PrefixIndex::kMaxEndpoints + 1), 0u);
  EXPECT_EQ(match_one(index, block, PrefixIndex::kMaxEndpoints - 1), 1u);
}

// The index against a plain model (a list per endpoint), over random operations.
TEST(PrefixIndex, AgreesWithAReferenceModel) {
  struct Model {
    std::map<EndpointId, std::list<std::uint64_t>> lru;  // front: most recent
    std::map<EndpointId, std::size_t> capacity;
    std::size_t default_capacity = 20;
    std::size_t cap(EndpointId e) {
      auto it = capacity.find(e);
      return it == capacity.end() ? default_capacity : it->second;
    }
    void trim(EndpointId e) {
      auto& l = lru[e];
      while (l.size() > cap(e)) l.pop_back();
    }
    void record(EndpointId e, const std::vector<std::uint64_t>& blocks) {
      auto& l = lru[e];
      const std::size_t n = std::min(blocks.size(), cap(e));
      for (std::size_t k = n; k-- > 0;) {
        l.remove(blocks[k]);
        l.push_front(blocks[k]);
        trim(e);
      }
    }
    std::uint32_t match(EndpointId e, const std::vector<std::uint64_t>& blocks) {
      auto it = lru.find(e);
      if (it == lru.end()) return 0;
      std::uint32_t n = 0;
      for (std::uint64_t b : blocks) {
        if (std::find(it->second.begin(), it->second.end(), b) == it->second.end()) break;
        ++n;
      }
      return n;
    }
  } model;
  PrefixIndex index({.default_capacity_blocks = 20});
  std::mt19937 rng(77);
  auto random_prompt = [&] {
    // Few families with shared prefixes, random lengths.
    std::vector<std::uint64_t> blocks = chain(rng() % 6, 1 + rng() % 12);
    if (rng() % 3 == 0) blocks.push_back(900'000'000 + rng() % 50);
    return blocks;
  };
  // Twelve endpoints, so that blocks often have more holders than fit inline.
  const std::vector<EndpointId> endpoints = {3, 8, 21, 70, 71, 500, 9, 10, 11, 12, 13, 14};
  for (int step = 0; step < 4000; ++step) {
    const EndpointId e = endpoints[rng() % endpoints.size()];
    const int op = static_cast<int>(rng() % 100);
    if (op < 60) {
      const auto blocks = random_prompt();
      index.record(e, blocks);
      model.record(e, blocks);
    } else if (op < 75) {
      const EndpointId to = endpoints[rng() % endpoints.size()];
      const auto blocks = random_prompt();
      index.move(e, to, blocks);
      if (e != to && model.lru.count(e)) {
        for (std::uint64_t b : blocks) model.lru[e].remove(b);
      }
      model.record(to, blocks);
    } else if (op < 82) {
      const std::size_t cap = rng() % 30;
      index.set_capacity(e, cap);
      model.capacity[e] = cap;
      model.trim(e);
    } else if (op < 85) {
      index.remove_endpoint(e);
      model.lru.erase(e);
      model.capacity.erase(e);
    } else {
      const auto blocks = random_prompt();
      std::vector<std::uint32_t> matched(endpoints.size());
      index.match(blocks, endpoints, matched);
      for (std::size_t i = 0; i < endpoints.size(); ++i) {
        ASSERT_EQ(matched[i], model.match(endpoints[i], blocks)) << "step " << step;
      }
    }
    std::size_t entries = 0;
    std::set<std::uint64_t> distinct;
    for (auto& [id, l] : model.lru) {
      entries += l.size();
      distinct.insert(l.begin(), l.end());
    }
    const auto stats = index.stats();
    ASSERT_EQ(stats.entries, entries) << "step " << step;
    ASSERT_EQ(stats.blocks, distinct.size()) << "step " << step;
  }
}

TEST(PrefixIndex, MemoryStaysWithinTheStatedBoundPerEntry) {
  constexpr std::size_t kCapacity = 10'000;
  constexpr EndpointId kEndpoints = 100;
  PrefixIndex index({.default_capacity_blocks = kCapacity});
  const std::size_t empty_bytes = index.stats().memory_bytes;
  // Worst case: no block shared, every endpoint full.
  std::uint64_t next = 1;
  std::vector<std::uint64_t> blocks(250);
  for (EndpointId e = 0; e < kEndpoints; ++e) {
    for (std::size_t filled = 0; filled < kCapacity + 1000; filled += blocks.size()) {
      for (auto& b : blocks) b = (next++) * 0x9e3779b97f4a7c15ULL;
      index.record(e, blocks);
    }
  }
  auto stats = index.stats();
  ASSERT_EQ(stats.entries, kCapacity * kEndpoints);
  ASSERT_EQ(stats.blocks, stats.entries);
  const double per_entry =
      static_cast<double>(stats.memory_bytes - empty_bytes) / static_cast<double>(stats.entries);
  std::printf("unshared: %.1f bytes per (block, endpoint) entry\n", per_entry);
  // About 21.3 in the endpoint's LRU, plus a 16-byte table entry per distinct block at a load
  // of 3/8 or more while the table grows.
  EXPECT_LE(per_entry, 21.4 + 16.0 / 0.375 + 1);

  // Shared: every block on four endpoints.
  PrefixIndex shared({.default_capacity_blocks = kCapacity});
  for (std::uint64_t group = 0; group < kEndpoints / 4; ++group) {
    for (std::size_t filled = 0; filled < kCapacity + 1000; filled += blocks.size()) {
      for (auto& b : blocks) b = (next++) * 0x9e3779b97f4a7c15ULL;
      for (EndpointId e = 0; e < 4; ++e)
        shared.record(static_cast<EndpointId>(group * 4 + e), blocks);
    }
  }
  stats = shared.stats();
  ASSERT_EQ(stats.entries, kCapacity * kEndpoints);
  ASSERT_EQ(stats.blocks * 4, stats.entries);
  const double shared_per_entry =
      static_cast<double>(stats.memory_bytes - empty_bytes) / static_cast<double>(stats.entries);
  std::printf("shared by 4: %.1f bytes per (block, endpoint) entry\n", shared_per_entry);
  EXPECT_LE(shared_per_entry, 21.4 + 16.0 / 0.375 / 4 + 1);

  // Everything removed: back to (about) the empty footprint.
  for (EndpointId e = 0; e < kEndpoints; ++e) index.remove_endpoint(e);
  stats = index.stats();
  EXPECT_EQ(stats.entries, 0u);
  EXPECT_EQ(stats.blocks, 0u);
  EXPECT_LE(stats.memory_bytes, empty_bytes + 64 * 1024);
}

TEST(Reclaimer, FreesOnlyOnceNoReaderIsInside) {
  static int freed = 0;
  freed = 0;
  Reclaimer reclaimer;
  int block = 0;
  {
    Reclaimer::ReadGuard reader(reclaimer);
    reclaimer.retire(&block, [](void*) { ++freed; });
    EXPECT_EQ(freed, 0);
    EXPECT_EQ(reclaimer.pending(), 1u);
  }
  reclaimer.collect();
  EXPECT_EQ(freed, 1);
  EXPECT_EQ(reclaimer.pending(), 0u);
  reclaimer.retire(&block, [](void*) { ++freed; });
  EXPECT_EQ(freed, 2);  // no reader: at once
}

// Several threads record, move, match, resize and remove at once; afterwards the index is
// consistent: removing every endpoint leaves no block behind (no stale bit, no lost entry).
TEST(PrefixIndex, ManyThreadsAtOnce) {
  PrefixIndex index({.default_capacity_blocks = 300});
  constexpr int kThreads = 4;
  constexpr int kSteps = 1500;
  constexpr EndpointId kEndpoints = 80;  // two bitset words, widened while running
  std::atomic<bool> bad_match{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 rng(static_cast<std::uint32_t>(t + 1));
      std::vector<EndpointId> candidates(16);
      std::vector<std::uint32_t> matched(16);
      for (int step = 0; step < kSteps; ++step) {
        const EndpointId e = rng() % kEndpoints;
        const auto blocks = chain(rng() % 40, 1 + rng() % 64);
        switch (rng() % 10) {
          case 0:
            index.move(e, rng() % kEndpoints, blocks);
            break;
          case 1:
            if (rng() % 8 == 0)
              index.remove_endpoint(e);
            else
              index.set_capacity(e, 50 + rng() % 400);
            break;
          case 2:
          case 3:
          case 4:
            index.record(e, blocks);
            break;
          default:
            for (auto& c : candidates) c = rng() % kEndpoints;
            index.match(blocks, candidates, matched);
            for (std::uint32_t m : matched) {
              if (m > blocks.size()) bad_match = true;
            }
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_FALSE(bad_match);
  const auto stats = index.stats();
  EXPECT_LE(stats.blocks, stats.entries);
  for (EndpointId e = 0; e < kEndpoints; ++e) index.remove_endpoint(e);
  EXPECT_EQ(index.stats().blocks, 0u);
  EXPECT_EQ(index.stats().entries, 0u);
}

// Readers never see a torn table: while writers churn other endpoints' blocks through every
// shard (inserting, evicting, resizing the tables as capacities swing), an endpoint whose
// blocks nobody touches always matches in full.
TEST(PrefixIndex, ReadersSeeConsistentBlocksWhileWritersChurn) {
  PrefixIndex index({.default_capacity_blocks = 400});
  constexpr EndpointId kStable = 999;
  const auto stable = chain(1000, 200);
  index.record(kStable, stable);
  std::atomic<bool> stop{false};
  std::atomic<int> torn{0};
  std::atomic<long> matches{0};
  std::vector<std::thread> writers;
  for (int t = 0; t < 2; ++t) {
    writers.emplace_back([&, t] {
      std::mt19937 rng(static_cast<std::uint32_t>(100 + t));
      for (int step = 0; step < 800; ++step) {
        const EndpointId e = rng() % 70;
        if (step % 100 == 99) index.set_capacity(e, rng() % 2 == 0 ? 20 : 600);
        index.record(e, chain(rng() % 300, 1 + rng() % 60));
        if (rng() % 50 == 0) index.remove_endpoint(e);
      }
    });
  }
  std::thread reader([&] {
    std::vector<EndpointId> candidates = {kStable, 1, 2, 3};
    std::vector<std::uint32_t> matched(candidates.size());
    while (!stop.load()) {
      index.match(stable, candidates, matched);
      if (matched[0] != stable.size()) ++torn;
      ++matches;
    }
  });
  for (auto& writer : writers) writer.join();
  stop = true;
  reader.join();
  EXPECT_EQ(torn.load(), 0);
  EXPECT_GT(matches.load(), 0);
}

}  // namespace
}  // namespace infergate::gateway::scheduling::prefix

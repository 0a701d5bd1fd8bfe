// The prefix index: leading-run matching, per-endpoint LRU capacity, move and removal, the
// block table's holders and growth, a reference model, the memory bound.
#include "gateway/scheduling/prefix/prefix_index.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <list>
#include <map>
#include <random>
#include <set>
#include <vector>

#include "gateway/scheduling/prefix/block_table.hpp"
#include "gateway/scheduling/prefix/prompt_blocks.hpp"
#include "gateway/scheduling/prefix/reclaimer.hpp"
#include "prefix_index_support.hpp"

namespace infergate::gateway::scheduling::prefix {
namespace {
using testing::chain;
using testing::match;
using testing::match_one;

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

// A named list's slots are kept per thread; an endpoint joining or leaving the index makes the
// next match resolve them again.
TEST(PrefixIndex, AKeptListFollowsEndpointsJoiningAndLeaving) {
  PrefixIndex index;
  const auto blocks = chain(1, 5);
  const std::vector<EndpointId> list = {1, 2, 3};
  auto matched = [&](std::uint64_t name) {
    std::vector<std::uint32_t> m(list.size(), 99);
    index.match(blocks, list, m, name);
    return m;
  };
  index.record(1, std::span(blocks).first(2));
  EXPECT_EQ(matched(7), (std::vector<std::uint32_t>{2, 0, 0}));
  index.record(2, std::span(blocks).first(4));  // joins
  EXPECT_EQ(matched(7), (std::vector<std::uint32_t>{2, 4, 0}));
  EXPECT_EQ(matched(7), (std::vector<std::uint32_t>{2, 4, 0}));  // kept
  index.remove_endpoint(1);
  EXPECT_EQ(matched(7), (std::vector<std::uint32_t>{0, 4, 0}));
  index.record(3, blocks);  // takes the slot endpoint 1 left
  EXPECT_EQ(matched(7), (std::vector<std::uint32_t>{0, 4, 5}));
  // Other names, and none, agree.
  for (std::uint64_t name : {8, 9, 10, 11, 12, 0}) {
    EXPECT_EQ(matched(name), (std::vector<std::uint32_t>{0, 4, 5})) << name;
  }
  EXPECT_EQ(matched(7), (std::vector<std::uint32_t>{0, 4, 5}));
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

// Prompts longer than 16 blocks are matched by sampling (block_walk.cpp): that relies on each
// endpoint holding a chain's blocks as a prefix, which records keep. Over pools that take every
// walk's width (one to eight bitset words, and more), with evictions, shrinking capacities and
// endpoints leaving, every run equals the one found block by block (a one-block match per
// block, which is never sampled), with the candidates' slots looked up or kept. With moves too
// (retries), no run is shorter than the block-by-block one (the next test shows when longer).
TEST(PrefixIndex, SampledRunsOfChainedPromptsEqualBlockByBlockRuns) {
  // A prompt as block ids: one of five system prompts' stems, then blocks of its own. Its
  // hashes are a chain, as hash_prompt_blocks() makes them.
  auto hashes = [](const std::vector<std::uint64_t>& ids) {
    std::vector<std::uint64_t> h;
    std::uint64_t link = 12345;
    for (std::uint64_t id : ids) h.push_back(link = chain_mix(link, id));
    return h;
  };
  for (const bool moves : {false, true}) {
    for (const EndpointId endpoints : {6u, 70u, 150u, 300u, 500u}) {
      SCOPED_TRACE(::testing::Message() << endpoints << " endpoints, moves " << moves);
      std::mt19937_64 rng(endpoints);
      PrefixIndex index({.default_capacity_blocks = 400});
      std::vector<EndpointId> all(endpoints);
      for (EndpointId e = 0; e < endpoints; ++e) all[e] = 10 + e;
      std::vector<std::vector<std::uint64_t>> recorded;
      auto prompt = [&](bool new_one) {
        std::vector<std::uint64_t> ids;
        if (!new_one && !recorded.empty()) {
          ids = recorded[rng() % recorded.size()];  // a conversation again, cut or extended
          ids.resize(17 + rng() % (ids.size() + 300 - 17), 0);
        } else {
          const std::uint64_t system = rng() % 5;
          for (std::uint64_t k = 0; k < 10 + 10 * system; ++k) ids.push_back(system * 1000 + k);
        }
        for (std::uint64_t& id : ids) {
          if (id == 0) id = rng() | 1;
        }
        while (ids.size() < 17) ids.push_back(rng() | 1);
        return ids;
      };
      for (int step = 0; step < 30 * static_cast<int>(endpoints); ++step) {
        const EndpointId e = all[rng() % endpoints];
        const int op = static_cast<int>(rng() % 100);
        if (op < (moves ? 84 : 90)) {
          auto ids = prompt(rng() % 3 == 0);
          ids.resize(std::min<std::size_t>(ids.size(), 17 + rng() % 200), rng() | 1);
          index.record(e, hashes(ids));
          recorded.push_back(ids);
        } else if (op < 90) {  // a retry: a prompt, often shorter than others through it, moves
          auto ids = prompt(false);
          ids.resize(1 + rng() % ids.size());
          index.move(e, all[rng() % endpoints], hashes(ids));
        } else if (op < 97) {
          index.set_capacity(e, 20 + rng() % 400);
        } else {
          index.remove_endpoint(e);
        }
        if (step % 40 != 0) continue;
        const auto blocks = hashes(prompt(rng() % 4 == 0));
        ASSERT_GT(blocks.size(), 16u);
        std::vector<std::uint32_t> runs(endpoints, 0);
        std::vector<bool> stopped(endpoints, false);
        std::vector<std::uint32_t> held(endpoints);
        for (const std::uint64_t& block : blocks) {
          index.match(std::span(&block, 1), all, held);
          for (EndpointId c = 0; c < endpoints; ++c) {
            stopped[c] = stopped[c] || held[c] == 0;
            runs[c] += stopped[c] ? 0 : 1;
          }
        }
        std::vector<std::uint32_t> sampled(endpoints, 99);
        index.match(blocks, all, sampled, step % 80 == 0 ? 0 : 77);  // 77 names `all`
        if (!moves) {
          ASSERT_EQ(sampled, runs) << "step " << step;
          continue;
        }
        for (EndpointId c = 0; c < endpoints; ++c)
          ASSERT_GE(sampled[c], runs[c]) << "step " << step;
      }
    }
  }
}

// A retry's move() takes a prompt's blocks from an endpoint from the first one on. The endpoint
// may keep a longer chain's later blocks: the sampled match looks at every chain's first block,
// so it counts nothing there. A shorter prompt recorded there again later leaves a hole in the
// longer chain; a sampled match counts past a hole that no sample falls in (the endpoint held
// those blocks before the move, and its engine may well still).
TEST(PrefixIndex, AMovedPromptLeavesNoRunAndAHoleMayBeCountedPast) {
  PrefixIndex index;
  const auto blocks = chain(1, 40);  // sampled at blocks 0, 6, 13, 20, 27, 34, 39
  index.record(1, blocks);
  index.move(1, 2, std::span(blocks).first(3));
  EXPECT_EQ(match(index, blocks, {1, 2}), (std::vector<std::uint32_t>{0, 3}));
  index.record(1, std::span(blocks).first(2));                      // block 2 stays missing
  EXPECT_EQ(match_one(index, std::span(blocks).first(16), 1), 2u);  // walked block by block
  EXPECT_EQ(match_one(index, blocks, 1), 40u);
  index.record(1, std::span(blocks).first(10));  // the hole filled
  EXPECT_EQ(match_one(index, std::span(blocks).first(16), 1), 16u);
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

}  // namespace
}  // namespace infergate::gateway::scheduling::prefix

// The prefix index under several threads: reclamation waits for readers, writers never
// show readers a torn block, records handed to a busy endpoint's lock holder all get in.
#include <gtest/gtest.h>

#include <atomic>
#include <random>
#include <thread>
#include <vector>

#include "gateway/scheduling/prefix/prefix_index.hpp"
#include "gateway/scheduling/prefix/reclaimer.hpp"
#include "prefix_index_support.hpp"

namespace infergate::gateway::scheduling::prefix {
namespace {
using testing::chain;
using testing::match;
using testing::match_one;

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

// Four threads record to one endpoint at once, so most records find its lock taken and are
// handed to the holder: once every call has returned, every record is in, in full.
TEST(PrefixIndex, RecordsHandedToABusyEndpointAllGetIn) {
  PrefixIndex index({.default_capacity_blocks = 40'000});
  constexpr EndpointId kEndpoint = 7;
  constexpr int kThreads = 4;
  constexpr int kRecords = 400;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int r = 0; r < kRecords; ++r) index.record(kEndpoint, chain(t * kRecords + r, 24));
    });
  }
  for (auto& thread : threads) thread.join();
  int partial = 0;
  for (int family = 0; family < kThreads * kRecords; ++family)
    if (match_one(index, chain(family, 24), kEndpoint) != 24) ++partial;
  EXPECT_EQ(partial, 0);
  EXPECT_EQ(index.stats().entries, std::size_t{kThreads * kRecords * 24});
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

// Prompt block hashing: the chain definition, its mix, and its properties.
#include "gateway/scheduling/prefix/prompt_blocks.hpp"

#include <gtest/gtest.h>
#include <xxhash.h>

#include <random>
#include <string>
#include <unordered_set>
#include <vector>

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

// The definition, spelled out: each block's own XXH3 64-bit hash, folded into the previous
// link by a multiply-xorshift of (previous ^ rotl(block hash, 27)), starting from XXH3(model).
std::uint64_t reference_mix(std::uint64_t previous, std::uint64_t block_hash) {
  const std::uint64_t rotated = (block_hash << 27) | (block_hash >> 37);
  const std::uint64_t product = (previous ^ rotated) * 0x9E3779B97F4A7C15ULL;
  return product ^ (product >> 32);
}

std::vector<std::uint64_t> reference_hashes(std::string_view model, std::string_view prompt,
                                            std::size_t block, std::size_t max_blocks) {
  std::vector<std::uint64_t> out;
  std::uint64_t previous = XXH3_64bits(model.data(), model.size());
  for (std::size_t i = 0; (i + 1) * block <= prompt.size() && i < max_blocks; ++i) {
    const std::string_view bytes = prompt.substr(i * block, block);
    previous = reference_mix(previous, XXH3_64bits(bytes.data(), bytes.size()));
    out.push_back(previous);
  }
  return out;
}

// ---- hashing ----

TEST(PromptBlocks, FollowsTheChainDefinition) {
  const std::string prompt = text(64 * 5, 1);
  EXPECT_EQ(hashes("llama", prompt), reference_hashes("llama", prompt, 64, 256));
  // Block sizes around each path of XXH3 (1 to 3, 4 to 8, 9 to 16, 17 to 128, 129 to 240 bytes,
  // then stripes of 64 in blocks of 1,024), prompt lengths with and without a partial block,
  // caps below and above the block count.
  const std::string long_prompt = text(3000 * 3 + 17, 2);
  for (const std::size_t block :
       {1, 3, 4, 8, 9, 16, 17, 63, 64, 65, 128, 129, 240, 241, 1024, 1025, 3000}) {
    for (const std::size_t length : {0, 1, 63, 64, 65, 200, 1000, 9017}) {
      for (const std::size_t max_blocks : {1, 5, 256}) {
        const std::string_view sample(long_prompt.data(), length);
        ASSERT_EQ(hashes("llama", sample, {block, max_blocks}),
                  reference_hashes("llama", sample, block, max_blocks))
            << "block " << block << ", length " << length << ", max_blocks " << max_blocks;
      }
    }
  }
}

TEST(PromptBlocks, TheMixIsTheDocumentedOne) {
  std::mt19937_64 rng(42);
  for (int i = 0; i < 1000; ++i) {
    const std::uint64_t previous = rng();
    const std::uint64_t block_hash = rng();
    ASSERT_EQ(chain_mix(previous, block_hash), reference_mix(previous, block_hash));
  }
  static_assert(chain_mix(0, 0) == 0);  // usable at compile time
}

TEST(PromptBlocks, TheMixTellsApartEveryBlockHashAndEveryPreviousLink) {
  // A bijection in each argument: structured inputs (small numbers, single bits), where a weak
  // mix would collide first, stay apart.
  std::vector<std::uint64_t> inputs;
  for (std::uint64_t v = 0; v < 4096; ++v) inputs.push_back(v);
  for (int bit = 12; bit < 64; ++bit) inputs.push_back(std::uint64_t{1} << bit);
  std::unordered_set<std::uint64_t> by_block, by_previous;
  for (const std::uint64_t v : inputs) {
    by_block.insert(chain_mix(0x0123456789abcdefULL, v));
    by_previous.insert(chain_mix(v, 0x0123456789abcdefULL));
  }
  EXPECT_EQ(by_block.size(), inputs.size());
  EXPECT_EQ(by_previous.size(), inputs.size());
}

TEST(PromptBlocks, TheMixIsNotSymmetric) {
  std::mt19937_64 rng(43);
  for (int i = 0; i < 100; ++i) {
    const std::uint64_t a = rng();
    const std::uint64_t b = rng();
    EXPECT_NE(chain_mix(a, b), chain_mix(b, a));
  }
}

TEST(PromptBlocks, LinksSpreadOverTheIndexShards) {
  // The prefix index shards by the low 6 bits; consecutive block hashes after one link must not
  // crowd into a few shards.
  std::vector<int> per_shard(64, 0);
  for (std::uint64_t v = 0; v < 64 * 100; ++v) ++per_shard[chain_mix(7, v) % 64];
  for (const int n : per_shard) {
    EXPECT_GT(n, 50);
    EXPECT_LT(n, 150);
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

TEST(PromptBlocks, BlockOrderMatters) {
  const std::string first = text(64, 16);
  const std::string second = text(64, 17);
  const auto a = hashes("m", first + second);
  const auto b = hashes("m", second + first);
  EXPECT_NE(a[1], b[1]);
}

TEST(PromptBlocks, ARepeatedBlockStillMovesTheChain) {
  const std::string block = text(64, 18);
  const auto links = hashes("m", block + block + block);
  ASSERT_EQ(links.size(), 3u);
  EXPECT_NE(links[0], links[1]);
  EXPECT_NE(links[1], links[2]);
  EXPECT_NE(links[0], links[2]);
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

}  // namespace
}  // namespace infergate::gateway::scheduling::prefix

namespace infergate::gateway::scheduling::prefix {
namespace {

// A prompt in pieces hashes as the pieces joined, wherever the cuts fall: inside blocks, on
// their edges, several in one block, empty pieces, and past the blocks a prompt is cut to.
TEST(PromptBlocks, PiecesHashAsTheirTextJoined) {
  std::mt19937_64 rng(11);
  for (int round = 0; round < 200; ++round) {
    std::string whole(rng() % 900, ' ');
    for (char& c : whole) c = static_cast<char>('a' + rng() % 26);
    std::vector<std::string_view> pieces;
    for (std::size_t at = 0; at < whole.size();) {
      const std::size_t n =
          std::min<std::size_t>(whole.size() - at, rng() % 3 == 0 ? 0 : rng() % 150);
      pieces.push_back(std::string_view(whole).substr(at, n));
      at += n;
    }
    const PromptBlockOptions options{static_cast<std::size_t>(1 + rng() % 100), 1 + rng() % 12};
    std::vector<std::uint64_t> joined, pieced;
    hash_prompt_blocks("model", whole, options, joined);
    hash_prompt_blocks("model", pieces, options, pieced);
    EXPECT_EQ(pieced, joined) << "round " << round;
  }
  std::vector<std::uint64_t> none;
  hash_prompt_blocks("model", std::span<const std::string_view>(), {}, none);
  EXPECT_TRUE(none.empty());
}

}  // namespace
}  // namespace infergate::gateway::scheduling::prefix

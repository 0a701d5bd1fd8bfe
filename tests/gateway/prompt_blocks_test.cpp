// Prompt block hashing: the chain definition and its properties.
#include "gateway/scheduling/prefix/prompt_blocks.hpp"

#include <gtest/gtest.h>
#include <xxhash.h>

#include <random>
#include <string>
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

}  // namespace
}  // namespace infergate::gateway::scheduling::prefix

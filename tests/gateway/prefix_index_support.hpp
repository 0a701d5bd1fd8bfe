// Block chains and match helpers shared by the prefix index's tests.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "gateway/scheduling/prefix/prefix_index.hpp"

namespace infergate::gateway::scheduling::prefix::testing {

inline std::vector<std::uint64_t> chain(std::uint64_t family, std::size_t n) {
  std::vector<std::uint64_t> blocks;
  for (std::size_t i = 0; i < n; ++i) blocks.push_back(family * 1'000'003 + i + 1);
  return blocks;
}

inline std::vector<std::uint32_t> match(const PrefixIndex& index,
                                        std::span<const std::uint64_t> blocks,
                                        std::vector<EndpointId> candidates) {
  std::vector<std::uint32_t> matched(candidates.size(), 99);
  index.match(blocks, candidates, matched);
  return matched;
}

inline std::uint32_t match_one(const PrefixIndex& index, std::span<const std::uint64_t> blocks,
                               EndpointId endpoint) {
  return match(index, blocks, {endpoint})[0];
}

}  // namespace infergate::gateway::scheduling::prefix::testing

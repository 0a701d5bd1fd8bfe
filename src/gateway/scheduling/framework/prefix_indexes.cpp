#include "gateway/scheduling/framework/prefix_indexes.hpp"

#include <set>

namespace infergate::gateway::scheduling {
namespace {

// The index counts blocks of 16 tokens (64 characters): an engine's KV capacity in tokens
// divided by that is how many prompt blocks it can hold.
constexpr std::int64_t kIndexBlockTokens = 16;

}  // namespace

std::shared_ptr<prefix::PrefixIndex> PrefixIndexes::for_pool(const std::string& pool_key) {
  std::lock_guard lock(mu_);
  PoolIndex& p = pools_[pool_key];
  if (!p.index) p.index = std::make_shared<prefix::PrefixIndex>();
  return p.index;
}

void PrefixIndexes::pools_reconciled(Snapshot& snapshot, std::span<const std::uint32_t> removed) {
  std::set<std::string> present;
  for (const auto& pool : snapshot.pools) present.insert(pool->key);
  std::lock_guard lock(mu_);
  std::erase_if(pools_, [&](const auto& entry) { return !present.contains(entry.first); });
  for (auto& [key, p] : pools_)
    for (const std::uint32_t id : removed) {
      p.index->remove_endpoint(id);
      p.capacity.erase(id);
    }
}

void PrefixIndexes::view_published(const PoolState& pool) {
  const std::shared_ptr<const PoolMetricsView> view = pool.view.load(std::memory_order_acquire);
  if (!view) return;
  std::lock_guard lock(mu_);
  const auto it = pools_.find(pool.key);
  if (it == pools_.end()) return;
  PoolIndex& p = it->second;
  for (std::size_t i = 0; i < pool.endpoints.size() && i < view->samples.size(); ++i) {
    if (!view->samples[i]) continue;
    const auto& m = view->samples[i]->metrics;
    if (!m.block_size || !m.num_blocks || *m.block_size <= 0 || *m.num_blocks <= 0) continue;
    const std::int64_t blocks = *m.num_blocks * *m.block_size / kIndexBlockTokens;
    const std::uint32_t id = pool.endpoints[i]->id;
    auto [slot, added] = p.capacity.try_emplace(id, blocks);
    if (!added && slot->second == blocks) continue;
    slot->second = blocks;
    p.index->set_capacity(id, static_cast<std::size_t>(blocks));
  }
}

prefix::PrefixIndex::Stats PrefixIndexes::stats() const {
  prefix::PrefixIndex::Stats total{0, 0, 0};
  std::lock_guard lock(mu_);
  for (const auto& [key, p] : pools_) {
    const auto s = p.index->stats();
    total.blocks += s.blocks;
    total.entries += s.entries;
    total.memory_bytes += s.memory_bytes;
  }
  return total;
}

}  // namespace infergate::gateway::scheduling

// The scheduling layer's state per pool: each pool's prefix index (prompt blocks -> endpoints
// that recently served them), kept under the pool's namespace/name across reloads. As a
// PoolListener it drops the indexes of pools that left and the entries of endpoints that left,
// and sizes each endpoint's share of the index from the KV-cache capacity its metrics report
// (num_gpu_blocks x block_size tokens, in index blocks of 16 tokens) whenever a view is
// published.
//
// Thread-safety: every method from any thread (one mutex over the map; the indexes lock
// themselves).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "gateway/datastore/datastore.hpp"
#include "gateway/scheduling/prefix/prefix_index.hpp"

namespace infergate::gateway::scheduling {

class PrefixIndexes final : public PoolListener {
 public:
  // The index of the pool named `pool_key`, made the first time it is asked for.
  std::shared_ptr<prefix::PrefixIndex> for_pool(const std::string& pool_key);

  void pools_reconciled(Snapshot& snapshot, std::span<const std::uint32_t> removed) override;
  void view_published(const PoolState& pool) override;

  // Summed over the pools' indexes.
  prefix::PrefixIndex::Stats stats() const;

 private:
  struct PoolIndex {
    std::shared_ptr<prefix::PrefixIndex> index;
    std::map<std::uint32_t, std::int64_t> capacity;  // by endpoint id, as last set
  };
  mutable std::mutex mu_;
  std::map<std::string, PoolIndex> pools_;
};

}  // namespace infergate::gateway::scheduling

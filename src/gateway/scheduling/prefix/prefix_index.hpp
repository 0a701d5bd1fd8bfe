// The approximate prefix-cache index behind the prefix-cache scorer: which endpoints recently
// served which prompt blocks (see prompt_blocks.hpp), so a new request can go where its
// longest prefix is probably still in the KV cache.
//
// Contract
// - record(): the request with these block hashes was sent to the endpoint. Each endpoint
//   keeps at most its capacity of blocks (set_capacity(), from the endpoint's
//   cache_config_info; default PrefixIndexOptions::default_capacity_blocks) and evicts its
//   least recently used ones. Blocks are recorded last to first, so a request's leading blocks
//   are the most recent and the deep end of a prefix goes before its start.
// - match(): for each candidate, the number of leading blocks the index holds for it, stopping
//   at the first block it lacks. Candidates the index has never seen match 0. Past 16 blocks
//   it samples the prompt's blocks (block_walk.cpp): the blocks must be a chain, each hash
//   naming its whole prefix (prompt_blocks.hpp). Records keep an endpoint's blocks of a chain
//   a prefix (a block is never older than the blocks after it). move() takes a prompt's
//   blocks from the first on; a shorter prompt recorded again afterwards can leave a hole in a
//   longer chain, which a sampled match may count past (PrefixIndex tests show when).
// - An endpoint's state lives from its first record() or set_capacity() to remove_endpoint().
//   At most kMaxEndpoints are tracked at once; record() for more is ignored.
//
// Thread-safety: every method may be called from many threads at once. match() takes no lock
// (seqlock reads of the block table, see block_table.hpp); writers lock one endpoint and, per
// block, one of 64 table shards, for a few instructions each (a shard's rare resize, while
// the index grows, holds its lock for about a millisecond; readers never wait for it). A
// record() that finds its endpoint locked hands its blocks to the holder instead of waiting:
// it may return before they are in, and once no call is running every record is in.
//
// Layout and memory. Two structures: the block table, block hash -> the endpoints holding it
// (as dense slot numbers the index gives endpoints: up to five inline in a 16-byte entry, more
// in a bitset), and per endpoint an LRU table of its blocks. A (block, endpoint) entry costs
// about 21.3 bytes in the endpoint's LRU (16-byte buckets at most 3/4 full at capacity), plus
// the block's 16-byte table entry (at a load between 3/8 and 3/4: 21 to 43 bytes) shared by
// all the endpoints holding the block; a block held by more than five endpoints adds a bitset
// of ceil(endpoints / 64) words. Measured (prefix_index_test, bench_prefix_index): 55 bytes
// per entry when no block is shared, 30 when every block is on four endpoints, 33 to 43 on the
// benchmark's shared-prefix index of 100 endpoints x 31,250 blocks. Memory is bounded by the
// sum of the capacities.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <vector>

#include "gateway/scheduling/prefix/block_table.hpp"
#include "gateway/scheduling/prefix/reclaimer.hpp"

namespace infergate::gateway::scheduling::prefix {

using EndpointId = std::uint32_t;  // stable ids the datastore assigns

struct PrefixIndexOptions {
  std::size_t default_capacity_blocks = 31250;
};

class PrefixIndex {
 public:
  static constexpr std::size_t kMaxEndpoints = BlockTable::kMaxSlots;
  static constexpr std::size_t kMaxCapacityBlocks = std::size_t{1} << 30;

  explicit PrefixIndex(PrefixIndexOptions options = {});
  PrefixIndex(const PrefixIndex&) = delete;
  PrefixIndex& operator=(const PrefixIndex&) = delete;
  ~PrefixIndex();

  // From the endpoint's cache_config_info; shrinking evicts at once.
  void set_capacity(EndpointId endpoint, std::size_t blocks);
  // The request with these block hashes was sent to `endpoint`: add or refresh them in its
  // LRU, evicting its least recently used blocks beyond capacity.
  void record(EndpointId endpoint, std::span<const std::uint64_t> blocks);
  // After a retry: the blocks go from `from` (removed there) to `to`.
  void move(EndpointId from, EndpointId to, std::span<const std::uint64_t> blocks);
  // For each candidate, how many leading blocks the index holds for it (stops at the first
  // missing block). matched.size() >= candidates.size(). A non-zero `list` names the candidates:
  // the same ids in the same order each time it is given (a pool metrics view's serial); the
  // thread then keeps their slots for its next matches of that list, as long as no endpoint
  // joins or leaves the index.
  void match(std::span<const std::uint64_t> blocks, std::span<const EndpointId> candidates,
             std::span<std::uint32_t> matched, std::uint64_t list = 0) const;
  // The endpoint left the configuration: its blocks are purged and its slot freed.
  void remove_endpoint(EndpointId endpoint);

  struct Stats {
    std::size_t blocks;        // distinct blocks
    std::size_t entries;       // (block, endpoint) pairs
    std::size_t memory_bytes;  // everything the index allocated
  };
  // Not const: like a writer, it applies the records handed to it while it held an endpoint.
  Stats stats();

 private:
  struct EndpointState;
  struct SlotMap;
  class EndpointLock;

  EndpointState* obtain(EndpointId endpoint);
  // Under the state's mutex: what record() does.
  void record_locked(EndpointState& state, EndpointId endpoint,
                     std::span<const std::uint64_t> blocks);
  // Leaves a record to the state's lock holder; false when too much waits already.
  bool hand_over(EndpointState& state, EndpointId endpoint, std::span<const std::uint64_t> blocks);
  // Under the state's mutex: applies the records handed over.
  void apply_handed(EndpointState& state);
  EndpointState* find_state(EndpointId endpoint) const;
  void publish(std::unique_ptr<SlotMap> map);

  PrefixIndexOptions options_;
  mutable Reclaimer reclaimer_;
  BlockTable table_;
  std::atomic<const SlotMap*> slots_;
  // Endpoints joining and leaving. EndpointState::active changes under both this and the
  // state's mutex, so either one suffices to read it.
  mutable std::mutex registry_mu_;
  std::vector<std::unique_ptr<EndpointState>> states_;  // by slot, never shrinks; registry_mu_
};

}  // namespace infergate::gateway::scheduling::prefix

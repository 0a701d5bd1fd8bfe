// Block hash -> the set of endpoint slots that hold the block, as a bitset.
//
// The table is split into shards by the block hash's low bits. Each shard is an open-addressing
// table (linear probing, backward-shift deletion) whose buckets are `1 + words` 64-bit words:
// the key, then the slot bitset. Key 0 marks an empty bucket, so callers map block hash 0 to 1.
//
// Readers take no lock: find() is a seqlock read of one shard (two loads of a counter in the
// shard's header, which sits on the same cache line as the bucket array's pointer), retried if
// a writer moved entries meanwhile. Setting or clearing one bit changes a single word and needs
// no retry. Writers lock the shard's mutex; a resize builds the new bucket array aside and
// swaps it in, retiring the old one through the Reclaimer, so readers never wait for a rebuild
// and never read freed memory (they must hold a Reclaimer::ReadGuard).
//
// Thread-safety: every method may be called from any thread.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>

#include "gateway/scheduling/prefix/reclaimer.hpp"

namespace infergate::gateway::scheduling::prefix {

class BlockTable {
 public:
  static constexpr std::size_t kShardBits = 8;
  static constexpr std::size_t kShards = std::size_t{1} << kShardBits;
  static constexpr std::size_t kMaxWords = 64;  // 4096 endpoint slots

  explicit BlockTable(Reclaimer& reclaimer);
  BlockTable(const BlockTable&) = delete;
  BlockTable& operator=(const BlockTable&) = delete;
  ~BlockTable();

  // Bitset words per bucket. Never decreases.
  std::size_t words() const noexcept { return words_.load(std::memory_order_acquire); }
  // Makes room for slots below 64 * `words` (rebuilds every shard; rare: new endpoints only).
  // Callers serialise widen() with each other.
  void widen(std::size_t words);

  // Writers. `block` must be non-zero, `slot` below 64 * words().
  void add(std::uint64_t block, std::uint32_t slot);
  void remove(std::uint64_t block, std::uint32_t slot);

  // Readers (inside a Reclaimer::ReadGuard). Copies the first `words` bitset words of `block`
  // into `mask`; false when the table does not hold `block`. `words` <= words().
  bool find(std::uint64_t block, std::uint64_t* mask, std::size_t words) const noexcept;
  // A hint: pulls the cache line of `block`'s home bucket.
  void prefetch(std::uint64_t block) const noexcept;

  struct Stats {
    std::size_t blocks = 0;
    std::size_t memory_bytes = 0;
  };
  Stats stats() const;

 private:
  using Word = std::atomic<std::uint64_t>;

  struct alignas(64) Shard {
    // Odd while a writer moves entries; readers retry when it changed under them.
    std::atomic<std::uint64_t> seq{0};
    std::atomic<Word*> buckets{nullptr};
    std::atomic<std::size_t> bucket_count{0};
    std::atomic<std::size_t> stride{0};  // words per bucket
    std::mutex mu;                       // writers
    std::size_t size = 0;                // keys held, under mu
  };

  static std::size_t shard_of(std::uint64_t block) noexcept { return block & (kShards - 1); }
  static std::size_t home_of(std::uint64_t block, std::size_t bucket_count) noexcept {
    // The high bits pick the bucket (the low ones picked the shard).
    __extension__ using Wide = unsigned __int128;
    return static_cast<std::size_t>((static_cast<Wide>(block) * bucket_count) >> 64);
  }

  // Under shard.mu. The bucket index holding `block`, or bucket_count when absent.
  static std::size_t locate(const Shard& shard, std::uint64_t block) noexcept;
  void rebuild(Shard& shard, std::size_t bucket_count, std::size_t stride);
  void erase_at(Shard& shard, std::size_t index) noexcept;

  Reclaimer& reclaimer_;
  std::atomic<std::size_t> words_{1};
  std::unique_ptr<Shard[]> shards_;
};

// ---- reader path, inline for match() ----

inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

inline bool BlockTable::find(std::uint64_t block, std::uint64_t* mask,
                             std::size_t words) const noexcept {
  const Shard& shard = shards_[shard_of(block)];
  for (;;) {
    const std::uint64_t seq = shard.seq.load(std::memory_order_acquire);
    if (seq & 1) {  // a writer is moving entries: a few nanoseconds
      cpu_relax();
      continue;
    }
    const Word* buckets = shard.buckets.load(std::memory_order_seq_cst);
    const std::size_t count = shard.bucket_count.load(std::memory_order_relaxed);
    const std::size_t stride = shard.stride.load(std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_acquire);
    if (shard.seq.load(std::memory_order_relaxed) != seq) continue;  // torn header
    bool found = false;
    std::size_t i = home_of(block, count);
    for (std::size_t probes = 0; probes < count; ++probes) {
      const Word* bucket = buckets + i * stride;
      const std::uint64_t key = bucket[0].load(std::memory_order_relaxed);
      if (key == block) {
        for (std::size_t w = 0; w < words; ++w) {
          mask[w] = bucket[1 + w].load(std::memory_order_relaxed);
        }
        found = true;
        break;
      }
      if (key == 0) break;
      if (++i == count) i = 0;
    }
    std::atomic_thread_fence(std::memory_order_acquire);
    if (shard.seq.load(std::memory_order_relaxed) == seq) return found;
  }
}

inline void BlockTable::prefetch(std::uint64_t block) const noexcept {
  const Shard& shard = shards_[shard_of(block)];
  const Word* buckets = shard.buckets.load(std::memory_order_relaxed);
  const std::size_t count = shard.bucket_count.load(std::memory_order_relaxed);
  const std::size_t stride = shard.stride.load(std::memory_order_relaxed);
  // The three may be torn by a concurrent resize: the address is then only a wasted hint,
  // and a prefetch never faults.
  const std::uintptr_t at = reinterpret_cast<std::uintptr_t>(buckets) +
                            home_of(block, count) * stride * sizeof(Word);
  __builtin_prefetch(reinterpret_cast<const void*>(at));
  __builtin_prefetch(reinterpret_cast<const void*>(at + stride * sizeof(Word) - 1));
}

}  // namespace infergate::gateway::scheduling::prefix

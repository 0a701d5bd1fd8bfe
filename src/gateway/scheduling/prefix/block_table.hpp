// Block hash -> the set of endpoint slots that hold the block, as a bitset.
//
// The table is split into shards by the block hash's low bits. Each shard is an open-addressing
// table (linear probing without wrap-around, backward-shift deletion) whose buckets are
// `1 + words` 64-bit words: the key, then the slot bitset. Key 0 marks an empty bucket, so
// callers map block hash 0 to 1. A shard's bucket array carries its geometry (bucket count,
// words per bucket) in front and never changes size: a resize builds a new array.
//
// Readers take no lock: a lookup is a seqlock read of one shard (a counter on the shard's cache
// line, read before and after), redone if a writer moved entries meanwhile. Setting or clearing
// one bit changes a single word and needs no redo. Writers lock the shard's mutex; a resize
// builds the new array aside and swaps it in, retiring the old one through the Reclaimer, so
// readers never wait for a rebuild and never read freed memory (they must hold a
// Reclaimer::ReadGuard).
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

inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

class BlockTable {
  using Word = std::atomic<std::uint64_t>;

 public:
  static constexpr std::size_t kShards = 256;
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

  // A lookup in two steps, so that a walk over many blocks starts the next lookups (and their
  // cache misses) long before it needs them. start() locates the block's home and prefetches
  // it; finish() compares the keys near home and checks that no writer moved entries since
  // start(). finish() is false when the block was not near its home (absent, or down a long
  // run) or a writer intervened: the caller then asks find().
  class Probe {
    friend class BlockTable;
    const Word* seq_ = nullptr;
    const Word* bucket_ = nullptr;
    std::uint64_t seen_ = 0;
    std::size_t stride_ = 0;
  };
  [[gnu::always_inline]] Probe start(std::uint64_t block) const noexcept;
  [[gnu::always_inline]] bool finish(const Probe& probe, std::uint64_t block,
                                     std::uint64_t* mask, std::size_t words) const noexcept;

  // A hint: pulls the cache line of `block`'s home bucket.
  void prefetch(std::uint64_t block) const noexcept;

  struct Stats {
    std::size_t blocks = 0;
    std::size_t memory_bytes = 0;
  };
  Stats stats() const;

 private:
  // The bucket array: kHeader words (bucket count, words per bucket), then the buckets.
  // Probing never wraps: runs may spill into kTail buckets past the count (a longer run grows
  // the table), so finish() reads kWindow buckets from any home without bounds checks.
  static constexpr std::size_t kHeader = 2;
  static constexpr std::size_t kWindow = 4;
  static constexpr std::size_t kTail = 16;

  struct alignas(64) Shard {
    Word seq{0};  // odd while a writer moves entries
    std::atomic<Word*> array{nullptr};
    // The array's geometry again, for prefetch() hints, which read no array (they hold no
    // ReadGuard); may be torn against `array`.
    std::atomic<std::size_t> hint_count{0};
    std::atomic<std::size_t> hint_stride{0};
    std::mutex mu;          // writers
    std::size_t size = 0;   // keys held, under mu
  };

  static std::size_t shard_of(std::uint64_t block) noexcept { return block % kShards; }
  // The high bits pick the bucket (the low ones picked the shard).
  static std::size_t home_of(std::uint64_t block, std::size_t count) noexcept {
    __extension__ using Wide = unsigned __int128;
    return static_cast<std::size_t>((static_cast<Wide>(block) * count) >> 64);
  }
  static std::size_t count_of(const Word* array) noexcept {
    return array[0].load(std::memory_order_relaxed);
  }
  static std::size_t stride_of(const Word* array) noexcept {
    return array[1].load(std::memory_order_relaxed);
  }
  static Word* allocate(std::size_t count, std::size_t stride);
  static void publish(Shard& shard, Word* array) noexcept;
  static void free_array(void* array) noexcept;
  // Under the shard's mutex.
  static std::size_t locate(const Word* array, std::uint64_t block) noexcept;
  static std::size_t free_bucket(const Word* array, std::uint64_t block) noexcept;
  void rebuild(Shard& shard, std::size_t count, std::size_t stride);
  static void erase_at(Word* array, std::size_t index) noexcept;

  Reclaimer& reclaimer_;
  std::atomic<std::size_t> words_{1};
  std::unique_ptr<Shard[]> shards_;
};

// ---- the reader's fast path, inline for match() ----

inline BlockTable::Probe BlockTable::start(std::uint64_t block) const noexcept {
  const Shard& shard = shards_[shard_of(block)];
  Probe probe;
  probe.seq_ = &shard.seq;
  while ((probe.seen_ = shard.seq.load(std::memory_order_acquire)) & 1) cpu_relax();
  // The array outlives the walk (ReadGuard) and its header always matches it, so the address
  // is in bounds even if a writer swaps the array now; finish() then sees the counter moved.
  const Word* array = shard.array.load(std::memory_order_seq_cst);
  probe.stride_ = stride_of(array);
  probe.bucket_ = array + kHeader + home_of(block, count_of(array)) * probe.stride_;
  const auto at = reinterpret_cast<std::uintptr_t>(probe.bucket_);
  __builtin_prefetch(probe.bucket_);
  __builtin_prefetch(reinterpret_cast<const void*>(at + 64));
  __builtin_prefetch(reinterpret_cast<const void*>(at + kWindow * probe.stride_ * sizeof(Word) - 1));
  return probe;
}

inline bool BlockTable::finish(const Probe& probe, std::uint64_t block, std::uint64_t* mask,
                               std::size_t words) const noexcept {
  // The first kWindow buckets from home, compared with conditional moves: a present key sits
  // that close to its home about 95 % of the time at the highest load.
  static_assert(kWindow == 4);
  const std::size_t stride = probe.stride_;
  const Word* b0 = probe.bucket_;
  const Word* b1 = b0 + stride;
  const Word* b2 = b1 + stride;
  const Word* b3 = b2 + stride;
  const Word* hit = b3[0].load(std::memory_order_relaxed) == block ? b3 : nullptr;
  hit = b2[0].load(std::memory_order_relaxed) == block ? b2 : hit;
  hit = b1[0].load(std::memory_order_relaxed) == block ? b1 : hit;
  hit = b0[0].load(std::memory_order_relaxed) == block ? b0 : hit;
  if (hit == nullptr) return false;
  for (std::size_t w = 0; w < words; ++w) mask[w] = hit[1 + w].load(std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_acquire);
  return probe.seq_->load(std::memory_order_relaxed) == probe.seen_;
}

}  // namespace infergate::gateway::scheduling::prefix

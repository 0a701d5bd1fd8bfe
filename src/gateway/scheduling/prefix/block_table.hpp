// Block hash -> the endpoint slots that hold the block.
//
// Layout. The table is split into 64 shards by the block hash's low bits. A shard is an
// open-addressing table of 16-byte entries (key, holders), four to a 64-byte cache line; a
// key's home is a whole line (picked by the hash's high bits), so a lookup reads one line, now
// and then the next. Probing is linear in Robin Hood order, new keys first among those of
// their home (recent blocks are the ones asked for), runs past the last line into a few spare
// lines instead of wrapping, and deletion shifts later entries back (no tombstones). Key 0
// marks an empty entry (callers map block hash 0 to 1). The number of lines is a power of
// two, published with the array's address in one word. The layout details are in
// block_layout.hpp; writers in block_table.cpp, readers in block_walk.cpp.
//
// Holders. Up to five holders are stored inline, as 12-bit slot numbers in the entry itself
// (most blocks: a conversation's blocks live on one to three endpoints). A block held by more
// (a popular system prompt) moves to a bitset over all slots in the shard's bitset pool, and
// back inline once three or fewer hold it. So an entry is 16 bytes whatever the number of
// endpoints.
//
// Reading. Lookups take no lock: a seqlock read of the shard (a counter read before and after
// on the shard's header line), redone if a writer moved entries meanwhile. A holder added or
// removed in place changes one word, which a reader sees before or after, and needs no redo.
// Writers lock the shard; a resize builds the new array aside and swaps it in, retiring the old
// one through the Reclaimer: readers never wait for a rebuild and never read freed memory
// (they hold a Reclaimer::ReadGuard).
//
// The walk. leading_runs() answers match(): it starts each lookup (prefetching its line)
// sixteen blocks before it needs it, intersects the candidates with each block's holders,
// keeps them as a bitset while many remain and as a short list once a block with inline
// holders has cut them down to five or fewer, and stops when none is left. A chain longer than
// 16 blocks is first walked at a sample of its blocks (its first, and the end of each stretch
// of about the square root of its length, at most 16 stretches), which tells in which stretch
// each candidate's run ends; then each such stretch is walked for the candidates that end in it
// (block_walk.cpp says why the runs are those of a walk block by block).
//
// Thread-safety: every method may be called from any thread.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <vector>

#include "gateway/scheduling/prefix/reclaimer.hpp"

namespace infergate::gateway::scheduling::prefix {

class BlockTable {
 public:
  static constexpr std::size_t kShards = 64;
  static constexpr std::size_t kMaxWords = 64;      // bitset words
  static constexpr std::uint32_t kMaxSlots = 4095;  // 12-bit slot numbers; 0xfff means none

  // Block hash 0 shares 1's entry (one chance in 2^64).
  static std::uint64_t key_of(std::uint64_t block) noexcept { return block != 0 ? block : 1; }

  explicit BlockTable(Reclaimer& reclaimer);
  BlockTable(const BlockTable&) = delete;
  BlockTable& operator=(const BlockTable&) = delete;
  ~BlockTable();

  // Words of a slot bitset: slots below 64 * words() may be used. Never decreases.
  std::size_t words() const noexcept { return words_.load(std::memory_order_acquire); }
  // Makes room for slots below 64 * `words` (rebuilds the bitset pools; rare: new endpoints).
  // Callers serialise widen() with each other.
  void widen(std::size_t words);

  // Writers. `key` non-zero (see key_of), `slot` below min(kMaxSlots, 64 * words()).
  void add(std::uint64_t key, std::uint32_t slot);
  void remove(std::uint64_t key, std::uint32_t slot);
  // Both at once: `slot` leaves `removes`, then joins `adds`, each shard locked once (a prompt's
  // blocks touch most shards: one lock each instead of one per block).
  void update(std::uint32_t slot, std::span<const std::uint64_t> removes,
              std::span<const std::uint64_t> adds);

  // Readers, inside a Reclaimer::ReadGuard. `alive` is a bitset of `words` words (at most
  // words() when read): the candidates' slots. For every slot set in it, depth[slot] becomes
  // the number of leading `blocks` (raw hashes of a chain) that the slot holds.
  void leading_runs(std::span<const std::uint64_t> blocks, std::size_t words,
                    const std::uint64_t* alive, std::uint32_t* depth) const;
  // Whether `slot` holds `key` (a single lookup, for tests and checks).
  bool holds(std::uint64_t key, std::uint32_t slot) const;

  struct Stats {
    std::size_t blocks = 0;
    std::size_t overflow_blocks = 0;  // holders in a pool bitset
    std::size_t memory_bytes = 0;
  };
  Stats stats() const;

 private:
  using Word = std::atomic<std::uint64_t>;
  struct Probe;

  struct alignas(64) Shard {
    // Read by every lookup.
    Word seq{0};  // odd while a writer moves entries
    // The entry array (2 words an entry, 8 a line) | log2 of its home lines (it has a few
    // spare lines more).
    std::atomic<std::uintptr_t> table{0};
    std::atomic<Word*> pool{nullptr};  // a header line, then bitsets
    // Writers only, on their own line.
    alignas(64) std::mutex mu;
    std::size_t size = 0;                     // keys
    std::size_t bitsets_used = 0;             // pool bitsets handed out at least once
    std::vector<std::uint32_t> free_bitsets;  // handed out and returned (zeroed)
  };

  Shard& shard_of(std::uint64_t key) const noexcept { return shards_[key % kShards]; }

  // Readers.
  [[gnu::always_inline]] Probe start(std::uint64_t key) const noexcept;
  [[gnu::always_inline]] std::uint64_t finish(const Probe& probe, std::uint64_t key,
                                              std::uint64_t* mask,
                                              std::size_t words) const noexcept;
  std::uint64_t find(std::uint64_t key, std::uint64_t* mask, std::size_t words) const noexcept;
  // Walks `blocks` one by one for the candidates set in `candidates`; `sink` takes each
  // candidate as it stops, with the number of blocks it held.
  template <std::size_t kWords, class Sink>
  void walk(std::span<const std::uint64_t> blocks, std::size_t words,
            const std::uint64_t* candidates, Sink& sink) const;
  // leading_runs() for `kWords` words (0: any number).
  template <std::size_t kWords>
  void runs(std::span<const std::uint64_t> blocks, std::size_t words, const std::uint64_t* alive,
            std::uint32_t* depth) const;

  // Writers, under the shard's mutex.
  void add_locked(Shard& shard, std::uint64_t key, std::uint32_t slot);
  void remove_locked(Shard& shard, std::uint64_t key, std::uint32_t slot);
  void rebuild_entries(Shard& shard, unsigned bits);
  void shrink_if_sparse(Shard& shard);
  void rebuild_pool(Shard& shard, std::size_t capacity, std::size_t stride);
  std::uint32_t take_bitset(Shard& shard);
  void to_bitset(Shard& shard, Word& holders, std::uint64_t value, std::uint32_t slot);
  void remove_from_bitset(Shard& shard, std::size_t entry, std::uint32_t slot);
  void erase_entry(Shard& shard, std::size_t entry) noexcept;

  Reclaimer& reclaimer_;
  std::atomic<std::size_t> words_{1};
  std::atomic<std::size_t> pool_words_{1};  // for new pools; set by widen() before words_
  // In the object, not behind a pointer: the reader's acquire loads would make the compiler
  // reload such a pointer for every lookup.
  mutable std::array<Shard, kShards> shards_;  // mutable: stats() locks the writers out
};

}  // namespace infergate::gateway::scheduling::prefix

#include "gateway/scheduling/prefix/block_table.hpp"

#include <algorithm>
#include <bit>
#include <cassert>
#include <cstdlib>
#include <new>

#include "gateway/scheduling/prefix/block_layout.hpp"

namespace infergate::gateway::scheduling::prefix {

using namespace layout;

namespace {

// Per-thread scratch kept between calls up to this many changes (a prompt's worth many times
// over); an endpoint's purge gives its larger buffer back.
constexpr std::size_t kKeptScratch = 4096;
// How far update() prefetches ahead within a shard.
constexpr std::size_t kUpdateAhead = 4;

// 64-byte aligned and zeroed.
Word* allocate_words(std::size_t count) {
  const std::size_t bytes = (count * sizeof(Word) + 63) / 64 * 64;
  void* raw = std::aligned_alloc(64, bytes);
  if (raw == nullptr) throw std::bad_alloc();
  Word* words = static_cast<Word*>(raw);
  std::uninitialized_value_construct_n(words, count);
  return words;
}
void free_words(void* words) noexcept { std::free(words); }

// Seqlock write section: readers that overlap it redo their lookup. Never nested.
class WriteSection {
 public:
  explicit WriteSection(Word& seq) : seq_(seq) {
    seq_.store(seq_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_release);
  }
  ~WriteSection() {
    seq_.store(seq_.load(std::memory_order_relaxed) + 1, std::memory_order_release);
  }
  WriteSection(const WriteSection&) = delete;
  WriteSection& operator=(const WriteSection&) = delete;

 private:
  Word& seq_;
};

// Under the shard's mutex: whether `key` has room before the spare lines run out.
bool has_room(const Word* entries, unsigned bits, std::uint64_t key) {
  const std::size_t end = kPerLine * (lines_of(bits) + kSpareLines);
  for (std::size_t e = kPerLine * home_line(key, bits); e < end; ++e) {
    if (entries[2 * e].load(std::memory_order_relaxed) == 0) return true;
  }
  return false;
}

// Under the shard's mutex, after has_room(): places an absent key. The key takes the place of
// the first entry homed at or after its own home, and the walk goes on with that entry: the
// newest key of a home comes first, since recent blocks are the ones asked for.
void place(Word* entries, unsigned bits, std::uint64_t key, std::uint64_t holders) {
  std::size_t home = kPerLine * home_line(key, bits);
  for (std::size_t e = home;; ++e) {
    const std::uint64_t k = entries[2 * e].load(std::memory_order_relaxed);
    if (k == 0) {
      entries[2 * e + 1].store(holders, std::memory_order_relaxed);
      entries[2 * e].store(key, std::memory_order_relaxed);
      return;
    }
    const std::size_t k_home = kPerLine * home_line(k, bits);
    if (k_home >= home) {
      const std::uint64_t k_holders = entries[2 * e + 1].load(std::memory_order_relaxed);
      entries[2 * e + 1].store(holders, std::memory_order_relaxed);
      entries[2 * e].store(key, std::memory_order_relaxed);
      key = k;
      holders = k_holders;
      home = k_home;
    }
  }
}

}  // namespace

// ---- construction ----

BlockTable::BlockTable(Reclaimer& reclaimer) : reclaimer_(reclaimer) {
  for (std::size_t s = 0; s < kShards; ++s) {
    shards_[s].table.store(tag(allocate_words(entries_words(kMinBits)), kMinBits),
                           std::memory_order_seq_cst);
  }
}

BlockTable::~BlockTable() {
  for (std::size_t s = 0; s < kShards; ++s) {
    free_words(entries_of(shards_[s].table.load(std::memory_order_relaxed)));
    if (Word* pool = shards_[s].pool.load(std::memory_order_relaxed)) free_words(pool);
  }
}

// ---- writers ----

void BlockTable::rebuild_entries(Shard& shard, unsigned bits) {
  const std::uintptr_t table = shard.table.load(std::memory_order_relaxed);
  Word* old = entries_of(table);
  const std::size_t old_total = kPerLine * (lines_of(bits_of(table)) + kSpareLines);
  // Built aside: readers keep using the old array meanwhile.
  for (;; ++bits) {
    Word* fresh = allocate_words(entries_words(bits));
    bool fits = true;
    for (std::size_t e = 0; e < old_total && fits; ++e) {
      const std::uint64_t key = old[2 * e].load(std::memory_order_relaxed);
      if (key == 0) continue;
      fits = has_room(fresh, bits, key);  // else a run past the spare lines: very rare
      if (fits) place(fresh, bits, key, old[2 * e + 1].load(std::memory_order_relaxed));
    }
    if (!fits) {
      free_words(fresh);
      continue;
    }
    {
      WriteSection section(shard.seq);
      shard.table.store(tag(fresh, bits), std::memory_order_seq_cst);
    }
    reclaimer_.retire(old, &free_words);
    return;
  }
}

void BlockTable::rebuild_pool(Shard& shard, std::size_t capacity, std::size_t stride) {
  Word* old = shard.pool.load(std::memory_order_relaxed);
  Word* fresh = allocate_words(kPoolHeader + capacity * stride);
  fresh[0].store(stride, std::memory_order_relaxed);
  fresh[1].store(capacity, std::memory_order_relaxed);
  if (old != nullptr) {
    const std::size_t old_stride = old[0].load(std::memory_order_relaxed);
    const std::size_t copy = std::min(old_stride, stride);
    for (std::uint32_t b = 0; b < shard.bitsets_used; ++b) {
      for (std::size_t w = 0; w < copy; ++w) {
        bitset_at(fresh, b)[w].store(bitset_at(old, b)[w].load(std::memory_order_relaxed),
                                     std::memory_order_relaxed);
      }
    }
  }
  {
    WriteSection section(shard.seq);
    shard.pool.store(fresh, std::memory_order_seq_cst);
  }
  if (old != nullptr) reclaimer_.retire(old, &free_words);
}

std::uint32_t BlockTable::take_bitset(Shard& shard) {
  if (!shard.free_bitsets.empty()) {
    const std::uint32_t index = shard.free_bitsets.back();
    shard.free_bitsets.pop_back();
    return index;
  }
  const Word* pool = shard.pool.load(std::memory_order_relaxed);
  const std::size_t capacity = pool != nullptr ? pool[1].load(std::memory_order_relaxed) : 0;
  if (shard.bitsets_used == capacity) {
    const std::size_t stride = pool != nullptr ? pool[0].load(std::memory_order_relaxed)
                                               : pool_words_.load(std::memory_order_relaxed);
    rebuild_pool(shard, std::max<std::size_t>(8, capacity * 2), stride);
  }
  return static_cast<std::uint32_t>(shard.bitsets_used++);
}

void BlockTable::to_bitset(Shard& shard, Word& holders, std::uint64_t value, std::uint32_t slot) {
  const std::uint32_t index = take_bitset(shard);  // a returned bitset is zero
  Word* bits = bitset_at(shard.pool.load(std::memory_order_relaxed), index);
  auto set = [&](std::uint32_t s) {
    bits[s / 64].store(
        bits[s / 64].load(std::memory_order_relaxed) | (std::uint64_t{1} << (s % 64)),
        std::memory_order_relaxed);
  };
  for (unsigned k = 0; k < inline_count(value); ++k) set(field(value, k));
  set(slot);
  // Release: a reader that sees the new word also sees the bits and the pool they are in.
  holders.store(bitset_value(index), std::memory_order_release);
}

void BlockTable::widen(std::size_t words) {
  assert(words <= kMaxWords);
  if (words <= words_.load(std::memory_order_relaxed)) return;
  pool_words_.store(words, std::memory_order_relaxed);
  for (std::size_t s = 0; s < kShards; ++s) {
    Shard& shard = shards_[s];
    std::lock_guard lock(shard.mu);
    const Word* pool = shard.pool.load(std::memory_order_relaxed);
    if (pool != nullptr) rebuild_pool(shard, pool[1].load(std::memory_order_relaxed), words);
  }
  // Published after every pool has the room, so a reader using words() never reads past a
  // bitset.
  words_.store(words, std::memory_order_release);
}

void BlockTable::add(std::uint64_t key, std::uint32_t slot) {
  Shard& shard = shard_of(key);
  std::lock_guard lock(shard.mu);
  add_locked(shard, key, slot);
}

void BlockTable::remove(std::uint64_t key, std::uint32_t slot) {
  Shard& shard = shard_of(key);
  std::lock_guard lock(shard.mu);
  remove_locked(shard, key, slot);
}

void BlockTable::update(std::uint32_t slot, std::span<const std::uint64_t> removes,
                        std::span<const std::uint64_t> adds) {
  // Grouped by shard (a counting sort), removals first, so each shard is locked once.
  struct Change {
    std::uint64_t key;
    bool add;
  };
  thread_local std::vector<Change> changes;
  std::array<std::size_t, kShards + 1> begin{};
  for (const std::uint64_t key : removes) ++begin[key % kShards + 1];
  for (const std::uint64_t key : adds) ++begin[key % kShards + 1];
  for (std::size_t s = 0; s < kShards; ++s) begin[s + 1] += begin[s];
  changes.resize(removes.size() + adds.size());
  std::array<std::size_t, kShards> next{};
  std::copy_n(begin.begin(), kShards, next.begin());
  for (const std::uint64_t key : removes) changes[next[key % kShards]++] = {key, false};
  for (const std::uint64_t key : adds) changes[next[key % kShards]++] = {key, true};
  for (std::size_t s = 0; s < kShards; ++s) {
    if (begin[s] == begin[s + 1]) continue;
    Shard& shard = shards_[s];
    std::lock_guard lock(shard.mu);
    for (std::size_t c = begin[s]; c < begin[s + 1]; ++c) {
      if (c + kUpdateAhead < begin[s + 1]) {  // the table cannot move while we hold the lock
        const std::uintptr_t table = shard.table.load(std::memory_order_relaxed);
        __builtin_prefetch(entries_of(table) +
                           2 * kPerLine * home_line(changes[c + kUpdateAhead].key, bits_of(table)));
      }
      if (changes[c].add) {
        add_locked(shard, changes[c].key, slot);
      } else {
        remove_locked(shard, changes[c].key, slot);
      }
    }
  }
  if (changes.capacity() > kKeptScratch) std::vector<Change>().swap(changes);  // a purge's
}

void BlockTable::add_locked(Shard& shard, std::uint64_t key, std::uint32_t slot) {
  assert(key != 0 && slot < kMaxSlots && slot / 64 < words_.load(std::memory_order_relaxed));
  std::uintptr_t table = shard.table.load(std::memory_order_relaxed);
  if (const std::size_t e = locate(entries_of(table), bits_of(table), key); e != kNone) {
    // In place: one word changes, which a reader sees before or after.
    Word& holders = entries_of(table)[2 * e + 1];
    const std::uint64_t v = holders.load(std::memory_order_relaxed);
    if (overflowed(v)) {
      Word& word = bitset_at(shard.pool.load(std::memory_order_relaxed), bitset_of(v))[slot / 64];
      word.store(word.load(std::memory_order_relaxed) | (std::uint64_t{1} << (slot % 64)),
                 std::memory_order_relaxed);
    } else if (inline_holds(v, slot)) {
      return;
    } else if (inline_count(v) < kInlineMax) {
      holders.store(with_holder(v, slot), std::memory_order_release);
    } else {
      to_bitset(shard, holders, v, slot);
    }
    return;
  }
  if (too_full(shard.size + 1, bits_of(table)) ||
      !has_room(entries_of(table), bits_of(table), key)) {
    do {
      rebuild_entries(shard, bits_of(table) + 1);
      table = shard.table.load(std::memory_order_relaxed);
    } while (!has_room(entries_of(table), bits_of(table), key));
  }
  WriteSection section(shard.seq);
  place(entries_of(table), bits_of(table), key, with_holder(kNobody, slot));
  ++shard.size;
}

void BlockTable::remove_locked(Shard& shard, std::uint64_t key, std::uint32_t slot) {
  const std::uintptr_t table = shard.table.load(std::memory_order_relaxed);
  const std::size_t e = locate(entries_of(table), bits_of(table), key);
  if (e == kNone) return;
  Word& holders = entries_of(table)[2 * e + 1];
  const std::uint64_t v = holders.load(std::memory_order_relaxed);
  if (overflowed(v)) {
    remove_from_bitset(shard, e, slot);
    return;
  }
  if (!inline_holds(v, slot)) return;
  if (inline_count(v) > 1) {
    holders.store(without_holder(v, slot), std::memory_order_release);
    return;
  }
  {
    WriteSection section(shard.seq);
    erase_entry(shard, e);
  }
  --shard.size;
  shrink_if_sparse(shard);
}

void BlockTable::remove_from_bitset(Shard& shard, std::size_t entry, std::uint32_t slot) {
  Word* pool = shard.pool.load(std::memory_order_relaxed);
  const std::size_t stride = pool[0].load(std::memory_order_relaxed);
  Word& holders = entries_of(shard.table.load(std::memory_order_relaxed))[2 * entry + 1];
  const std::uint32_t index = bitset_of(holders.load(std::memory_order_relaxed));
  Word* bits = bitset_at(pool, index);
  if (slot / 64 < stride) {
    Word& word = bits[slot / 64];
    word.store(word.load(std::memory_order_relaxed) & ~(std::uint64_t{1} << (slot % 64)),
               std::memory_order_relaxed);
  }
  std::size_t left = 0;
  for (std::size_t w = 0; w < stride; ++w) {
    left += static_cast<std::size_t>(std::popcount(bits[w].load(std::memory_order_relaxed)));
  }
  if (left > kBackInline) return;
  // Back inline, or gone. The bitset returns to the free list zeroed; both changes in one
  // write section, since a reader may be about to read the bitset through the old word.
  std::uint64_t value = kNobody;
  for (std::size_t w = 0; w < stride; ++w) {
    for (std::uint64_t b = bits[w].load(std::memory_order_relaxed); b != 0; b &= b - 1) {
      value = with_holder(value, static_cast<std::uint32_t>(w * 64 + std::countr_zero(b)));
    }
  }
  {
    WriteSection section(shard.seq);
    if (left == 0)
      erase_entry(shard, entry);
    else
      holders.store(value, std::memory_order_relaxed);
    for (std::size_t w = 0; w < stride; ++w) bits[w].store(0, std::memory_order_relaxed);
  }
  shard.free_bitsets.push_back(index);
  if (left == 0) {
    --shard.size;
    shrink_if_sparse(shard);
  }
}

void BlockTable::shrink_if_sparse(Shard& shard) {
  const unsigned bits = bits_of(shard.table.load(std::memory_order_relaxed));
  if (too_empty(shard.size, bits)) rebuild_entries(shard, bits - 1);
}

void BlockTable::erase_entry(Shard& shard, std::size_t entry) noexcept {
  const std::uintptr_t table = shard.table.load(std::memory_order_relaxed);
  Word* entries = entries_of(table);
  const unsigned bits = bits_of(table);
  const std::size_t end = kPerLine * (lines_of(bits) + kSpareLines);
  // Backward-shift deletion: pull each later entry of the run whose home is at or before the
  // hole into it (this keeps the Robin Hood order).
  std::size_t hole = entry;
  for (std::size_t j = entry + 1; j < end; ++j) {
    const std::uint64_t key = entries[2 * j].load(std::memory_order_relaxed);
    if (key == 0) break;
    if (kPerLine * home_line(key, bits) > hole) continue;
    entries[2 * hole].store(key, std::memory_order_relaxed);
    entries[2 * hole + 1].store(entries[2 * j + 1].load(std::memory_order_relaxed),
                                std::memory_order_relaxed);
    hole = j;
  }
  entries[2 * hole].store(0, std::memory_order_relaxed);
  entries[2 * hole + 1].store(0, std::memory_order_relaxed);
}

BlockTable::Stats BlockTable::stats() const {
  Stats stats;
  stats.memory_bytes = sizeof(Shard) * kShards;
  for (std::size_t s = 0; s < kShards; ++s) {
    Shard& shard = shards_[s];
    std::lock_guard lock(shard.mu);
    stats.blocks += shard.size;
    stats.overflow_blocks += shard.bitsets_used - shard.free_bitsets.size();
    stats.memory_bytes +=
        entries_words(bits_of(shard.table.load(std::memory_order_relaxed))) * sizeof(Word) +
        shard.free_bitsets.capacity() * sizeof(std::uint32_t);
    if (const Word* pool = shard.pool.load(std::memory_order_relaxed)) {
      stats.memory_bytes += (kPoolHeader + pool[0].load(std::memory_order_relaxed) *
                                               pool[1].load(std::memory_order_relaxed)) *
                            sizeof(Word);
    }
  }
  return stats;
}

}  // namespace infergate::gateway::scheduling::prefix

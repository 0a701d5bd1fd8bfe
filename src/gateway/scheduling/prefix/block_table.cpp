#include "gateway/scheduling/prefix/block_table.hpp"

#include <algorithm>
#include <bit>
#include <cassert>
#include <cstdlib>
#include <new>

namespace infergate::gateway::scheduling::prefix {

// ---- layout ----

namespace {

using Word = std::atomic<std::uint64_t>;

constexpr std::size_t kPerLine = 4;     // entries in a 64-byte line
constexpr std::size_t kSpareLines = 4;  // how far a run may spill past the last home line
constexpr std::size_t kNone = ~std::size_t{0};
constexpr std::size_t kPoolHeader = 8;  // words: bitset stride, capacity, padding to a line
constexpr std::size_t kAhead = 16;      // lookups in flight during a walk

// A shard's entry array has a power-of-two number of home lines, 2^bits, published with the
// array's address in one word (the address is 64-byte aligned, so bits fits below it): a
// reader gets a consistent pair from one load. The high bits of a key pick its home line (the
// low ones picked the shard).
constexpr unsigned kMinBits = 2;
std::uintptr_t tag(const Word* entries, unsigned bits) {
  return reinterpret_cast<std::uintptr_t>(entries) | bits;
}
Word* entries_of(std::uintptr_t table) { return reinterpret_cast<Word*>(table & ~std::uintptr_t{63}); }
unsigned bits_of(std::uintptr_t table) { return static_cast<unsigned>(table & 63); }
std::size_t lines_of(unsigned bits) { return std::size_t{1} << bits; }
std::size_t home_line(std::uint64_t key, unsigned bits) {
  return static_cast<std::size_t>(key >> (64 - bits));
}

// Load factors: grow above 3/4 (to 3/8), shrink below 0.15 (to 0.3). Measured on the
// benchmark's index at 3/4: 86 % of lookups find their key in its home line, 13 % in the next
// one, 1 % need find(); a lower load costs memory and was no faster.
bool too_full(std::size_t size, unsigned bits) { return size * 4 > lines_of(bits) * kPerLine * 3; }
bool too_empty(std::size_t size, unsigned bits) {
  return bits > kMinBits && size * 20 < lines_of(bits) * kPerLine * 3;
}

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

std::size_t entries_words(unsigned bits) { return 2 * kPerLine * (lines_of(bits) + kSpareLines); }

// ---- the holders word ----
// Bits 60..63: how many holders are inline (0..5), or kOverflow, and then bits 0..31 index a
// bitset of the shard's pool. Inline holder k sits in bits 12k..12k+11; unused fields hold
// kNoSlot, which no endpoint has.

constexpr unsigned kInlineMax = 5;
constexpr unsigned kBackInline = 3;  // a bitset goes back inline at this many holders
constexpr std::uint64_t kOverflow = 15;
constexpr std::uint64_t kNoSlot = 0xfff;
constexpr std::uint64_t kFieldOnes = 0x001001001001001ULL;  // 1 in each of the five fields
constexpr std::uint64_t kFieldHighs = kFieldOnes << 11;
constexpr std::uint64_t kFields = (std::uint64_t{1} << 60) - 1;
constexpr std::uint64_t kCountOne = std::uint64_t{1} << 60;
constexpr std::uint64_t kNobody = kFields;  // no holder: every field kNoSlot

unsigned inline_count(std::uint64_t v) { return static_cast<unsigned>(v >> 60); }
bool overflowed(std::uint64_t v) { return (v >> 60) == kOverflow; }
std::uint32_t bitset_of(std::uint64_t v) { return static_cast<std::uint32_t>(v); }
std::uint64_t bitset_value(std::uint32_t index) { return (kOverflow << 60) | index; }
std::uint32_t field(std::uint64_t v, unsigned k) {
  return static_cast<std::uint32_t>((v >> (12 * k)) & kNoSlot);
}
// Whether `slot` is among the inline holders: a zero-field test over the five fields at once.
bool inline_holds(std::uint64_t v, std::uint32_t slot) {
  const std::uint64_t x = (v & kFields) ^ (slot * kFieldOnes);
  return ((x - kFieldOnes) & ~x & kFieldHighs) != 0;
}
std::uint64_t with_holder(std::uint64_t v, std::uint32_t slot) {  // fewer than kInlineMax
  const unsigned shift = 12 * inline_count(v);
  return ((v & ~(kNoSlot << shift)) | (std::uint64_t{slot} << shift)) + kCountOne;
}
std::uint64_t without_holder(std::uint64_t v, std::uint32_t slot) {  // an inline holder
  const unsigned last = inline_count(v) - 1;
  unsigned k = 0;
  while (field(v, k) != slot) ++k;
  v = (v & ~(kNoSlot << (12 * k))) | (std::uint64_t{field(v, last)} << (12 * k));
  return (v | (kNoSlot << (12 * last))) - kCountOne;
}

Word* bitset_at(Word* pool, std::uint32_t index) {
  return pool + kPoolHeader + index * pool[0].load(std::memory_order_relaxed);
}
const Word* bitset_at(const Word* pool, std::uint32_t index) {
  return pool + kPoolHeader + index * pool[0].load(std::memory_order_relaxed);
}

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

// Entries sit in Robin Hood order: along a run, homes never decrease, and a search stops at
// the first entry homed after the key's home. Unlike plain linear probing, where the newest
// keys (the ones asked for most) sit furthest out, place() puts a new key first among those of
// its home.
std::size_t locate(const Word* entries, unsigned bits, std::uint64_t key) {
  const std::size_t end = kPerLine * (lines_of(bits) + kSpareLines);
  const std::size_t home = kPerLine * home_line(key, bits);
  for (std::size_t e = home; e < end; ++e) {
    const std::uint64_t k = entries[2 * e].load(std::memory_order_relaxed);
    if (k == key) return e;
    if (k == 0 || kPerLine * home_line(k, bits) > home) break;
  }
  return kNone;
}

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

inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

}  // namespace

namespace {

// The holders word of `key` if it is in this line: where the key would be if it were there,
// computed without branches (a key is in at most one place), then checked.
[[gnu::always_inline]] inline const Word* line_holders(const Word* line, std::uint64_t key) {
  const std::size_t at = 2 * (static_cast<std::size_t>(line[2].load(std::memory_order_relaxed) == key) +
                              2 * static_cast<std::size_t>(line[4].load(std::memory_order_relaxed) == key) +
                              3 * static_cast<std::size_t>(line[6].load(std::memory_order_relaxed) == key));
  return line[at].load(std::memory_order_relaxed) == key ? line + at + 1 : nullptr;
}

}  // namespace

struct BlockTable::Probe {
  std::uint64_t seen;  // the shard's seq when the line was located
  const Word* line;
};

// ---- construction ----

BlockTable::BlockTable(Reclaimer& reclaimer)
    : reclaimer_(reclaimer) {
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

// ---- readers ----

inline BlockTable::Probe BlockTable::start(std::uint64_t key) const noexcept {
  const Shard& shard = shard_of(key);
  const std::uint64_t seq = shard.seq.load(std::memory_order_acquire);
  const std::uintptr_t table = shard.table.load(std::memory_order_seq_cst);
  const Word* line = entries_of(table) + 2 * kPerLine * home_line(key, bits_of(table));
  __builtin_prefetch(line);
  // An odd seq (a writer inside) becomes a value the counter never takes: finish() fails.
  return {seq | ((seq & 1) << 63), line};
}

// The key's holders word, or 0 when the key is not in its home line or the next (absent, or
// pushed further: find() tells) or a writer moved entries since start(). Recent keys, the
// ones asked for, sit in their home line (place() puts the newest of a home first).
inline std::uint64_t BlockTable::finish(const Probe& probe, std::uint64_t key,
                                        std::uint64_t* mask, std::size_t words) const noexcept {
  const Word* holders = line_holders(probe.line, key);
  if (holders == nullptr) {
    // Older keys may sit a line further (its cache line is usually the adjacent one fetched
    // along); further still, or absent: find() tells.
    holders = line_holders(probe.line + 2 * kPerLine, key);
    if (holders == nullptr) return 0;
  }
  const std::uint64_t v = holders->load(std::memory_order_acquire);
  const Shard& shard = shard_of(key);
  if (overflowed(v)) {
    const Word* pool = shard.pool.load(std::memory_order_acquire);
    const Word* bits = bitset_at(pool, bitset_of(v));
    for (std::size_t w = 0; w < words; ++w) mask[w] = bits[w].load(std::memory_order_relaxed);
  }
  std::atomic_thread_fence(std::memory_order_acquire);
  return shard.seq.load(std::memory_order_relaxed) == probe.seen ? v : 0;
}

// The key's holders word, or 0 when the table does not hold the key. Never 0 otherwise: an
// entry has a holder inline or a bitset.
std::uint64_t BlockTable::find(std::uint64_t key, std::uint64_t* mask,
                               std::size_t words) const noexcept {
  const Shard& shard = shard_of(key);
  for (;;) {
    const std::uint64_t seen = shard.seq.load(std::memory_order_acquire);
    if (seen & 1) {
      cpu_relax();
      continue;
    }
    const std::uintptr_t table = shard.table.load(std::memory_order_seq_cst);
    const Word* entries = entries_of(table);
    std::uint64_t v = 0;
    if (const std::size_t e = locate(entries, bits_of(table), key); e != kNone) {
      v = entries[2 * e + 1].load(std::memory_order_acquire);
      if (overflowed(v)) {
        const Word* pool = shard.pool.load(std::memory_order_acquire);
        const Word* bits = bitset_at(pool, bitset_of(v));
        for (std::size_t w = 0; w < words; ++w) mask[w] = bits[w].load(std::memory_order_relaxed);
      }
    }
    std::atomic_thread_fence(std::memory_order_acquire);
    if (shard.seq.load(std::memory_order_relaxed) == seen) return v;
  }
}

template <std::size_t kWords>
void BlockTable::walk(std::span<const std::uint64_t> blocks, std::size_t words,
                      const std::uint64_t* candidates, std::uint32_t* depth) const {
  const std::size_t n_words = kWords != 0 ? kWords : words;
  constexpr std::size_t kRoom = kWords != 0 ? kWords : kMaxWords;
  std::uint64_t mask[kRoom];
  const std::size_t n = blocks.size();

  // Each lookup starts kAhead blocks before it is finished.
  Probe probes[kAhead];
  for (std::size_t i = 0; i < std::min(n, kAhead); ++i) probes[i] = start(key_of(blocks[i]));
  auto look_up = [&](std::size_t i) __attribute__((always_inline)) {
    const std::uint64_t key = key_of(blocks[i]);
    Probe& probe = probes[i % kAhead];
    std::uint64_t v = finish(probe, key, mask, n_words);
    if (v == 0) v = find(key, mask, n_words);
    if (i + kAhead < n) probe = start(key_of(blocks[i + kAhead]));
    return v;  // 0: absent
  };
  auto stop_all = [&](const std::uint64_t* bits, std::uint32_t at) __attribute__((always_inline)) {
    for (std::size_t w = 0; w < n_words; ++w) {
      for (std::uint64_t left = bits[w]; left != 0; left &= left - 1) {
        depth[w * 64 + static_cast<std::size_t>(std::countr_zero(left))] = at;
      }
    }
  };

  // While many candidates match (blocks held by many endpoints): a bitset.
  std::uint64_t alive[kRoom];
  std::copy_n(candidates, n_words, alive);
  std::uint32_t few[kInlineMax];
  unsigned few_count = 0;
  std::size_t i = 0;
  for (; i < n; ++i) {
    const std::uint64_t v = look_up(i);
    const auto at = static_cast<std::uint32_t>(i);
    if (v == 0) return stop_all(alive, at);
    if (overflowed(v)) {
      std::uint64_t any = 0;
      for (std::size_t w = 0; w < n_words; ++w) {
        for (std::uint64_t dropped = alive[w] & ~mask[w]; dropped != 0; dropped &= dropped - 1) {
          depth[w * 64 + static_cast<std::size_t>(std::countr_zero(dropped))] = at;
        }
        alive[w] &= mask[w];
        any |= alive[w];
      }
      if (any == 0) return;
      continue;
    }
    // At most five holders: the survivors go on as a list.
    for (unsigned k = 0; k < inline_count(v); ++k) {
      const std::uint32_t s = field(v, k);
      if (s / 64 < n_words && ((alive[s / 64] >> (s % 64)) & 1)) few[few_count++] = s;
    }
    stop_all(alive, at);  // the survivors' depth is written again later
    if (few_count == 0) return;
    ++i;
    break;
  }
  if (i == n && few_count == 0) return stop_all(alive, static_cast<std::uint32_t>(n));

  // A few candidates left: each block tests just them.
  if (few_count == 1) {  // the usual case: a conversation on the endpoint that served it
    const std::uint32_t s = few[0];
    const std::uint64_t pattern = s * kFieldOnes;
    for (; i < n; ++i) {
      const std::uint64_t v = look_up(i);
      if (v == 0) break;
      const std::uint64_t x = (v & kFields) ^ pattern;  // a zero field where the slot is
      const bool holds = overflowed(v) ? ((mask[s / 64] >> (s % 64)) & 1) != 0
                                       : ((x - kFieldOnes) & ~x & kFieldHighs) != 0;
      if (!holds) break;
    }
    depth[s] = static_cast<std::uint32_t>(i);
    return;
  }
  std::uint64_t pattern[kInlineMax];  // a survivor's slot in each of the five fields
  for (unsigned j = 0; j < few_count; ++j) pattern[j] = few[j] * kFieldOnes;
  for (; i < n; ++i) {
    const std::uint64_t v = look_up(i);
    const auto at = static_cast<std::uint32_t>(i);
    if (v == 0) break;
    unsigned kept = 0;
    if (!overflowed(v)) {
      const std::uint64_t fields = v & kFields;
      for (unsigned j = 0; j < few_count; ++j) {
        const std::uint64_t x = fields ^ pattern[j];
        if (((x - kFieldOnes) & ~x & kFieldHighs) != 0) {
          few[kept] = few[j];
          pattern[kept++] = pattern[j];
        } else {
          depth[few[j]] = at;
        }
      }
    } else {
      for (unsigned j = 0; j < few_count; ++j) {
        const std::uint32_t s = few[j];
        if ((mask[s / 64] >> (s % 64)) & 1) {
          few[kept] = s;
          pattern[kept++] = pattern[j];
        } else {
          depth[s] = at;
        }
      }
    }
    few_count = kept;
    if (few_count == 0) return;
  }
  for (unsigned j = 0; j < few_count; ++j) depth[few[j]] = static_cast<std::uint32_t>(i);
}

void BlockTable::leading_runs(std::span<const std::uint64_t> blocks, std::size_t words,
                              const std::uint64_t* alive, std::uint32_t* depth) const {
  switch (words) {
    case 1: walk<1>(blocks, words, alive, depth); break;
    case 2: walk<2>(blocks, words, alive, depth); break;
    case 3: walk<3>(blocks, words, alive, depth); break;
    case 4: walk<4>(blocks, words, alive, depth); break;
    default: walk<0>(blocks, words, alive, depth); break;
  }
}

bool BlockTable::holds(std::uint64_t key, std::uint32_t slot) const {
  Reclaimer::ReadGuard guard(reclaimer_);
  std::uint64_t mask[kMaxWords];
  const std::size_t n_words = words();
  const std::uint64_t v = find(key, mask, n_words);
  if (v == 0) return false;
  if (!overflowed(v)) return inline_holds(v, slot);
  return slot / 64 < n_words && ((mask[slot / 64] >> (slot % 64)) & 1);
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

void BlockTable::to_bitset(Shard& shard, Word& holders, std::uint64_t value,
                           std::uint32_t slot) {
  const std::uint32_t index = take_bitset(shard);  // a returned bitset is zero
  Word* bits = bitset_at(shard.pool.load(std::memory_order_relaxed), index);
  auto set = [&](std::uint32_t s) {
    bits[s / 64].store(bits[s / 64].load(std::memory_order_relaxed) | (std::uint64_t{1} << (s % 64)),
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
  assert(key != 0 && slot < kMaxSlots && slot / 64 < words_.load(std::memory_order_relaxed));
  Shard& shard = shard_of(key);
  std::lock_guard lock(shard.mu);
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

void BlockTable::remove(std::uint64_t key, std::uint32_t slot) {
  Shard& shard = shard_of(key);
  std::lock_guard lock(shard.mu);
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
    if (left == 0) erase_entry(shard, entry); else holders.store(value, std::memory_order_relaxed);
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

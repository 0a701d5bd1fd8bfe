// The block table's memory layout, shared by its writers (block_table.cpp) and its readers
// (block_walk.cpp). Internal to the prefix index.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace infergate::gateway::scheduling::prefix::layout {

using Word = std::atomic<std::uint64_t>;

inline constexpr std::size_t kPerLine = 4;     // entries in a 64-byte line
inline constexpr std::size_t kSpareLines = 4;  // how far a run may spill past the last home line
inline constexpr std::size_t kNone = ~std::size_t{0};
inline constexpr std::size_t kPoolHeader = 8;  // words: bitset stride, capacity, padding

// A shard's entry array has a power-of-two number of home lines, 2^bits, published with the
// array's address in one word (the address is 64-byte aligned, so bits fits below it): a
// reader gets a consistent pair from one load. The high bits of a key pick its home line (the
// low ones picked the shard).
inline constexpr unsigned kMinBits = 2;
inline std::uintptr_t tag(const Word* entries, unsigned bits) {
  return reinterpret_cast<std::uintptr_t>(entries) | bits;
}
inline Word* entries_of(std::uintptr_t table) {
  // The table's address and size share one word, so a reader loads both atomically.
  return reinterpret_cast<Word*>(table & ~std::uintptr_t{63});  // NOLINT(performance-no-int-to-ptr)
}
inline unsigned bits_of(std::uintptr_t table) { return static_cast<unsigned>(table & 63); }
inline std::size_t lines_of(unsigned bits) { return std::size_t{1} << bits; }
inline std::size_t home_line(std::uint64_t key, unsigned bits) {
  return static_cast<std::size_t>(key >> (64 - bits));
}

// Load factors: grow above 3/4 (to 3/8), shrink below 0.15 (to 0.3). Measured on the
// benchmark's index at 3/4: 86 % of lookups find their key in its home line, 13 % in the next
// one, 1 % need find(); a lower load costs memory and was no faster.
inline bool too_full(std::size_t size, unsigned bits) {
  return size * 4 > lines_of(bits) * kPerLine * 3;
}
inline bool too_empty(std::size_t size, unsigned bits) {
  return bits > kMinBits && size * 20 < lines_of(bits) * kPerLine * 3;
}

inline std::size_t entries_words(unsigned bits) {
  return 2 * kPerLine * (lines_of(bits) + kSpareLines);
}

// ---- the holders word ----
// Bits 60..63: how many holders are inline (0..5), or kOverflow, and then bits 0..31 index a
// bitset of the shard's pool. Inline holder k sits in bits 12k..12k+11; unused fields hold
// kNoSlot, which no endpoint has.

inline constexpr unsigned kInlineMax = 5;
inline constexpr unsigned kBackInline = 3;  // a bitset goes back inline at this many holders
inline constexpr std::uint64_t kOverflow = 15;
inline constexpr std::uint64_t kNoSlot = 0xfff;
inline constexpr std::uint64_t kFieldOnes = 0x001001001001001ULL;  // 1 in each of the five fields
inline constexpr std::uint64_t kFieldHighs = kFieldOnes << 11;
inline constexpr std::uint64_t kFields = (std::uint64_t{1} << 60) - 1;
inline constexpr std::uint64_t kCountOne = std::uint64_t{1} << 60;
inline constexpr std::uint64_t kNobody = kFields;  // no holder: every field kNoSlot

inline unsigned inline_count(std::uint64_t v) { return static_cast<unsigned>(v >> 60); }
inline bool overflowed(std::uint64_t v) { return (v >> 60) == kOverflow; }
inline std::uint32_t bitset_of(std::uint64_t v) { return static_cast<std::uint32_t>(v); }
inline std::uint64_t bitset_value(std::uint32_t index) { return (kOverflow << 60) | index; }
inline std::uint32_t field(std::uint64_t v, unsigned k) {
  return static_cast<std::uint32_t>((v >> (12 * k)) & kNoSlot);
}
// Whether `slot` is among the inline holders: a zero-field test over the five fields at once.
inline bool inline_holds(std::uint64_t v, std::uint32_t slot) {
  const std::uint64_t x = (v & kFields) ^ (slot * kFieldOnes);
  return ((x - kFieldOnes) & ~x & kFieldHighs) != 0;
}
inline std::uint64_t with_holder(std::uint64_t v, std::uint32_t slot) {  // fewer than kInlineMax
  const unsigned shift = 12 * inline_count(v);
  return ((v & ~(kNoSlot << shift)) | (std::uint64_t{slot} << shift)) + kCountOne;
}
inline std::uint64_t without_holder(std::uint64_t v, std::uint32_t slot) {  // an inline holder
  const unsigned last = inline_count(v) - 1;
  unsigned k = 0;
  while (field(v, k) != slot) ++k;
  v = (v & ~(kNoSlot << (12 * k))) | (std::uint64_t{field(v, last)} << (12 * k));
  return (v | (kNoSlot << (12 * last))) - kCountOne;
}

inline Word* bitset_at(Word* pool, std::uint32_t index) {
  return pool + kPoolHeader + index * pool[0].load(std::memory_order_relaxed);
}
inline const Word* bitset_at(const Word* pool, std::uint32_t index) {
  return pool + kPoolHeader + index * pool[0].load(std::memory_order_relaxed);
}

// Entries sit in Robin Hood order: along a run, homes never decrease, and a search stops at
// the first entry homed after the key's home. Unlike plain linear probing, where the newest
// keys (the ones asked for most) sit furthest out, place() puts a new key first among those of
// its home.
inline std::size_t locate(const Word* entries, unsigned bits, std::uint64_t key) {
  const std::size_t end = kPerLine * (lines_of(bits) + kSpareLines);
  const std::size_t home = kPerLine * home_line(key, bits);
  for (std::size_t e = home; e < end; ++e) {
    const std::uint64_t k = entries[2 * e].load(std::memory_order_relaxed);
    if (k == key) return e;
    if (k == 0 || kPerLine * home_line(k, bits) > home) break;
  }
  return kNone;
}

// The holders word of `key` if it is in this line: where the key would be if it were there,
// computed without branches (a key is in at most one place), then checked.
[[gnu::always_inline]] inline const Word* line_holders(const Word* line, std::uint64_t key) {
  const std::size_t at =
      2 * (static_cast<std::size_t>(line[2].load(std::memory_order_relaxed) == key) +
           2 * static_cast<std::size_t>(line[4].load(std::memory_order_relaxed) == key) +
           3 * static_cast<std::size_t>(line[6].load(std::memory_order_relaxed) == key));
  return line[at].load(std::memory_order_relaxed) == key ? line + at + 1 : nullptr;
}

inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

}  // namespace infergate::gateway::scheduling::prefix::layout

// The block table's readers: match()'s walk over a prompt's blocks and single lookups.
#include <algorithm>
#include <bit>

#include "gateway/scheduling/prefix/block_layout.hpp"
#include "gateway/scheduling/prefix/block_table.hpp"

namespace infergate::gateway::scheduling::prefix {

using namespace layout;

namespace {

constexpr std::size_t kAhead = 16;  // lookups in flight during a walk
// Chains up to this long are walked block by block; longer ones are sampled first, at their
// first block and the ends of up to kMaxStretches stretches.
constexpr std::size_t kWalkedWhole = 16;
constexpr std::size_t kMaxStretches = 16;

// Where a walk puts the candidates it stops: for each, the number of blocks it held.
struct Depths {
  std::uint32_t* depth;  // by slot
  std::uint32_t base;    // blocks before the walked ones, held by every candidate of the walk

  // The candidates `bits` of word `w` (slots 64w..64w+63) held `at` blocks.
  void stop(std::size_t w, std::uint64_t bits, std::uint32_t at) const {
    if (bits == ~std::uint64_t{0}) {  // 64 candidates in a row: one vector fill
      std::fill_n(depth + w * 64, 64, base + at);
      return;
    }
    for (; bits != 0; bits &= bits - 1) {
      depth[w * 64 + static_cast<std::size_t>(std::countr_zero(bits))] = base + at;
    }
  }
  void stop_one(std::uint32_t slot, std::uint32_t at) const { depth[slot] = base + at; }
};

// The same for a walk over sampled blocks: the candidates that held `at` samples, as a bitset.
struct Groups {
  std::uint64_t* bits;  // group g's word w at g * words + w
  std::size_t words;

  void stop(std::size_t w, std::uint64_t set, std::uint32_t at) const {
    bits[at * words + w] |= set;
  }
  void stop_one(std::uint32_t slot, std::uint32_t at) const {
    bits[at * words + slot / 64] |= std::uint64_t{1} << (slot % 64);
  }
};

}  // namespace

struct BlockTable::Probe {
  std::uint64_t seen;  // the shard's seq when the line was located
  const Word* line;
};

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
inline std::uint64_t BlockTable::finish(const Probe& probe, std::uint64_t key, std::uint64_t* mask,
                                        std::size_t words) const noexcept {
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

template <std::size_t kWords, class Sink>
void BlockTable::walk(std::span<const std::uint64_t> blocks, std::size_t words,
                      const std::uint64_t* candidates, Sink& sink) const {
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
    for (std::size_t w = 0; w < n_words; ++w) sink.stop(w, bits[w], at);
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
        sink.stop(w, alive[w] & ~mask[w], at);
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
    for (unsigned j = 0; j < few_count; ++j)
      alive[few[j] / 64] &= ~(std::uint64_t{1} << (few[j] % 64));
    stop_all(alive, at);  // the others
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
    sink.stop_one(s, static_cast<std::uint32_t>(i));
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
          sink.stop_one(few[j], at);
        }
      }
    } else {
      for (unsigned j = 0; j < few_count; ++j) {
        const std::uint32_t s = few[j];
        if ((mask[s / 64] >> (s % 64)) & 1) {
          few[kept] = s;
          pattern[kept++] = pattern[j];
        } else {
          sink.stop_one(s, at);
        }
      }
    }
    few_count = kept;
    if (few_count == 0) return;
  }
  for (unsigned j = 0; j < few_count; ++j) sink.stop_one(few[j], static_cast<std::uint32_t>(i));
}

// A prompt's blocks are a chain (each hash names the whole prefix up to its block), and an
// endpoint holds a chain's blocks as a prefix: every record touches a prompt's blocks last to
// first, so a block is never older in an endpoint's LRU than the blocks after it in its chain,
// and eviction takes the oldest first. So holding block k means holding blocks 0..k, and a
// candidate's leading run ends just before the first block it lacks among any sample of them.
// move() takes a prompt's blocks from an endpoint from the first one on, so the endpoint may
// keep a longer chain's later blocks without its first: the first block is always sampled. If a
// shorter prompt is then recorded there again, the longer chain has a hole, and a run counts
// past it unless a sample falls in it (the endpoint held those blocks before the move).
//
// The sampled walk: first block 0 and the block at the end of each stretch of `stride` (the
// last ending at the last block), as one walk; that puts each candidate in the stretch where
// its run ends, and a walk over that stretch alone, for the candidates that end in it, finds
// where. A 62-block prompt looks up 9 sampled blocks and 7 more per stretch where some
// candidate stops, instead of 62. Apart from such holes, the runs equal the block-by-block
// walk's, except while a record, eviction or move for the endpoint is half applied (the table
// takes a call's blocks shard by shard): a block-by-block walk then stops early, and a sampled
// one may count blocks that are coming or going.
template <std::size_t kWords>
void BlockTable::runs(std::span<const std::uint64_t> blocks, std::size_t words,
                      const std::uint64_t* alive, std::uint32_t* depth) const {
  const std::size_t n = blocks.size();
  if (n <= kWalkedWhole) {
    Depths whole{depth, 0};
    return walk<kWords>(blocks, words, alive, whole);
  }
  const std::size_t n_words = kWords != 0 ? kWords : words;
  constexpr std::size_t kRoom = kWords != 0 ? kWords : kMaxWords;
  // About the square root of n, and at most kMaxStretches stretches.
  std::size_t stride = std::max<std::size_t>((n + kMaxStretches - 1) / kMaxStretches, 4);
  while (stride * stride < n) ++stride;
  const std::size_t stretches = (n + stride - 1) / stride;
  auto stretch_end = [&](std::size_t g) { return std::min(n, (g + 1) * stride) - 1; };

  // Sample 0 is block 0, sample g + 1 the end of stretch g.
  const std::size_t samples = stretches + 1;
  std::uint64_t sampled[kMaxStretches + 1];
  sampled[0] = blocks[0];
  for (std::size_t g = 0; g < stretches; ++g) sampled[g + 1] = blocks[stretch_end(g)];
  // Group k: the candidates that held k samples (k = samples: all of them).
  std::uint64_t group_bits[(kMaxStretches + 2) * kRoom];
  std::fill_n(group_bits, (samples + 1) * n_words, std::uint64_t{0});
  Groups groups{group_bits, n_words};
  walk<kWords>(std::span(sampled, samples), words, alive, groups);

  const Depths at_start{depth, 0};
  for (std::size_t w = 0; w < n_words; ++w) at_start.stop(w, group_bits[w], 0);
  // Group g + 1 holds block 0 and the stretches before g, and lacks the end of stretch g: its
  // runs end in stretch g (after block 0, known held, in the first stretch).
  for (std::size_t g = 0; g < stretches; ++g) {
    const std::uint64_t* members = group_bits + (g + 1) * n_words;
    if (std::all_of(members, members + n_words, [](std::uint64_t w) { return w == 0; })) continue;
    const std::size_t begin = g == 0 ? 1 : g * stride;
    Depths in_stretch{depth, static_cast<std::uint32_t>(begin)};
    walk<kWords>(blocks.subspan(begin, stretch_end(g) - begin), words, members, in_stretch);
  }
  for (std::size_t w = 0; w < n_words; ++w) {
    at_start.stop(w, group_bits[samples * n_words + w], static_cast<std::uint32_t>(n));
  }
}

void BlockTable::leading_runs(std::span<const std::uint64_t> blocks, std::size_t words,
                              const std::uint64_t* alive, std::uint32_t* depth) const {
  switch (words) {
    case 1:
      return runs<1>(blocks, words, alive, depth);
    case 2:
      return runs<2>(blocks, words, alive, depth);
    case 3:
      return runs<3>(blocks, words, alive, depth);
    case 4:
      return runs<4>(blocks, words, alive, depth);
    case 8:
      return runs<8>(blocks, words, alive, depth);
    default:
      return runs<0>(blocks, words, alive, depth);
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

}  // namespace infergate::gateway::scheduling::prefix

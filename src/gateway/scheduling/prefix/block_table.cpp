#include "gateway/scheduling/prefix/block_table.hpp"

#include <algorithm>
#include <cassert>

namespace infergate::gateway::scheduling::prefix {
namespace {

constexpr std::size_t kMinBuckets = 16;
constexpr std::size_t kNone = ~std::size_t{0};

// Load factors: grow above 3/4, shrink below 1/5, and rebuild at 1/2.
bool too_full(std::size_t size, std::size_t count) { return size * 4 > count * 3; }
bool too_empty(std::size_t size, std::size_t count) {
  return count > kMinBuckets && size * 5 < count;
}
std::size_t buckets_for(std::size_t size) { return std::max(size * 2, kMinBuckets); }

// Seqlock write section: readers that overlap it redo their lookup.
class WriteSection {
 public:
  explicit WriteSection(std::atomic<std::uint64_t>& seq) : seq_(seq) {
    seq_.store(seq_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_release);
  }
  ~WriteSection() {
    seq_.store(seq_.load(std::memory_order_relaxed) + 1, std::memory_order_release);
  }
  WriteSection(const WriteSection&) = delete;
  WriteSection& operator=(const WriteSection&) = delete;

 private:
  std::atomic<std::uint64_t>& seq_;
};

}  // namespace

BlockTable::Word* BlockTable::allocate(std::size_t count, std::size_t stride) {
  Word* array = new Word[kHeader + (count + kTail) * stride]();  // zeroed: every key empty
  array[0].store(count, std::memory_order_relaxed);
  array[1].store(stride, std::memory_order_relaxed);
  return array;
}

void BlockTable::free_array(void* array) noexcept { delete[] static_cast<Word*>(array); }

void BlockTable::publish(Shard& shard, Word* array) noexcept {
  shard.hint_count.store(count_of(array), std::memory_order_relaxed);
  shard.hint_stride.store(stride_of(array), std::memory_order_relaxed);
  shard.array.store(array, std::memory_order_seq_cst);
}

BlockTable::BlockTable(Reclaimer& reclaimer)
    : reclaimer_(reclaimer), shards_(std::make_unique<Shard[]>(kShards)) {
  for (std::size_t s = 0; s < kShards; ++s) {
    publish(shards_[s], allocate(kMinBuckets, 2));
  }
}

BlockTable::~BlockTable() {
  for (std::size_t s = 0; s < kShards; ++s) {
    free_array(shards_[s].array.load(std::memory_order_relaxed));
  }
}

std::size_t BlockTable::locate(const Word* array, std::uint64_t block) noexcept {
  const std::size_t count = count_of(array);
  const std::size_t stride = stride_of(array);
  const Word* buckets = array + kHeader;
  for (std::size_t i = home_of(block, count); i < count + kTail; ++i) {
    const std::uint64_t key = buckets[i * stride].load(std::memory_order_relaxed);
    if (key == block) return i;
    if (key == 0) break;
  }
  return kNone;
}

// The first empty bucket of `block`'s run, or kNone when the run would leave the tail.
std::size_t BlockTable::free_bucket(const Word* array, std::uint64_t block) noexcept {
  const std::size_t count = count_of(array);
  const std::size_t stride = stride_of(array);
  const Word* buckets = array + kHeader;
  for (std::size_t i = home_of(block, count); i < count + kTail; ++i) {
    if (buckets[i * stride].load(std::memory_order_relaxed) == 0) return i;
  }
  return kNone;
}

void BlockTable::rebuild(Shard& shard, std::size_t count, std::size_t stride) {
  Word* old = shard.array.load(std::memory_order_relaxed);
  const std::size_t old_total = count_of(old) + kTail;
  const std::size_t old_stride = stride_of(old);
  const std::size_t copy_words = std::min(old_stride, stride);
  // Built aside: readers keep using the old array meanwhile.
  for (;; count *= 2) {
    Word* fresh = allocate(count, stride);
    bool fits = true;
    for (std::size_t b = 0; b < old_total && fits; ++b) {
      const Word* from = old + kHeader + b * old_stride;
      const std::uint64_t key = from[0].load(std::memory_order_relaxed);
      if (key == 0) continue;
      const std::size_t i = free_bucket(fresh, key);
      fits = i != kNone;  // else a run past the tail (vanishingly rare at half load)
      if (!fits) break;
      Word* to = fresh + kHeader + i * stride;
      for (std::size_t w = 0; w < copy_words; ++w) {
        to[w].store(from[w].load(std::memory_order_relaxed), std::memory_order_relaxed);
      }
    }
    if (!fits) {
      free_array(fresh);
      continue;
    }
    {
      WriteSection section(shard.seq);
      publish(shard, fresh);
    }
    reclaimer_.retire(old, &free_array);
    return;
  }
}

void BlockTable::widen(std::size_t words) {
  assert(words <= kMaxWords);
  if (words <= words_.load(std::memory_order_relaxed)) return;
  for (std::size_t s = 0; s < kShards; ++s) {
    Shard& shard = shards_[s];
    std::lock_guard lock(shard.mu);
    rebuild(shard, count_of(shard.array.load(std::memory_order_relaxed)), 1 + words);
  }
  // Published after every shard has the room, so a reader using words() never reads past a
  // bucket.
  words_.store(words, std::memory_order_release);
}

void BlockTable::add(std::uint64_t block, std::uint32_t slot) {
  assert(block != 0 && slot / 64 < words_.load(std::memory_order_relaxed));
  Shard& shard = shards_[shard_of(block)];
  std::lock_guard lock(shard.mu);
  Word* array = shard.array.load(std::memory_order_relaxed);
  const std::size_t stride = stride_of(array);
  const std::uint64_t bit = std::uint64_t{1} << (slot % 64);
  if (const std::size_t found = locate(array, block); found != kNone) {
    // One word changes: a reader sees it before or after, both consistent.
    Word& word = array[kHeader + found * stride + 1 + slot / 64];
    word.store(word.load(std::memory_order_relaxed) | bit, std::memory_order_relaxed);
    return;
  }
  std::size_t i = too_full(shard.size + 1, count_of(array)) ? kNone : free_bucket(array, block);
  while (i == kNone) {
    rebuild(shard, std::max(buckets_for(shard.size + 1), count_of(array) + 1), stride);
    array = shard.array.load(std::memory_order_relaxed);
    i = free_bucket(array, block);
  }
  Word* bucket = array + kHeader + i * stride;
  WriteSection section(shard.seq);
  bucket[1 + slot / 64].store(bit, std::memory_order_relaxed);
  bucket[0].store(block, std::memory_order_relaxed);
  ++shard.size;
}

void BlockTable::remove(std::uint64_t block, std::uint32_t slot) {
  Shard& shard = shards_[shard_of(block)];
  std::lock_guard lock(shard.mu);
  Word* array = shard.array.load(std::memory_order_relaxed);
  const std::size_t i = locate(array, block);
  if (i == kNone) return;
  const std::size_t stride = stride_of(array);
  Word* bucket = array + kHeader + i * stride;
  if (slot / 64 + 1 < stride) {
    Word& word = bucket[1 + slot / 64];
    word.store(word.load(std::memory_order_relaxed) & ~(std::uint64_t{1} << (slot % 64)),
               std::memory_order_relaxed);
  }
  for (std::size_t w = 1; w < stride; ++w) {
    if (bucket[w].load(std::memory_order_relaxed) != 0) return;  // others still hold it
  }
  {
    WriteSection section(shard.seq);
    erase_at(array, i);
  }
  --shard.size;
  if (too_empty(shard.size, count_of(array))) rebuild(shard, buckets_for(shard.size), stride);
}

void BlockTable::erase_at(Word* array, std::size_t index) noexcept {
  const std::size_t count = count_of(array);
  const std::size_t stride = stride_of(array);
  Word* buckets = array + kHeader;
  // Backward-shift deletion: pull each later entry of the run whose home is at or before the
  // hole into it.
  std::size_t hole = index;
  for (std::size_t j = index + 1; j < count + kTail; ++j) {
    const std::uint64_t key = buckets[j * stride].load(std::memory_order_relaxed);
    if (key == 0) break;
    if (home_of(key, count) > hole) continue;
    for (std::size_t w = 0; w < stride; ++w) {
      buckets[hole * stride + w].store(buckets[j * stride + w].load(std::memory_order_relaxed),
                                       std::memory_order_relaxed);
    }
    hole = j;
  }
  for (std::size_t w = 0; w < stride; ++w) {
    buckets[hole * stride + w].store(0, std::memory_order_relaxed);
  }
}

bool BlockTable::find(std::uint64_t block, std::uint64_t* mask, std::size_t words) const noexcept {
  const Shard& shard = shards_[shard_of(block)];
  for (;;) {
    const std::uint64_t seq = shard.seq.load(std::memory_order_acquire);
    if (seq & 1) {
      cpu_relax();
      continue;
    }
    const Word* array = shard.array.load(std::memory_order_seq_cst);
    const std::size_t i = locate(array, block);
    if (i != kNone) {
      const Word* hit = array + kHeader + i * stride_of(array);
      for (std::size_t w = 0; w < words; ++w) mask[w] = hit[1 + w].load(std::memory_order_relaxed);
    }
    std::atomic_thread_fence(std::memory_order_acquire);
    if (shard.seq.load(std::memory_order_relaxed) == seq) return i != kNone;
  }
}

void BlockTable::prefetch(std::uint64_t block) const noexcept {
  const Shard& shard = shards_[shard_of(block)];
  const std::size_t stride = shard.hint_stride.load(std::memory_order_relaxed);
  // Integer arithmetic: the array may be gone by now, and a prefetch never faults.
  const std::uintptr_t at =
      reinterpret_cast<std::uintptr_t>(shard.array.load(std::memory_order_relaxed)) +
      (kHeader + home_of(block, shard.hint_count.load(std::memory_order_relaxed)) * stride) *
          sizeof(Word);
  __builtin_prefetch(reinterpret_cast<const void*>(at));
}

BlockTable::Stats BlockTable::stats() const {
  Stats stats;
  stats.memory_bytes = sizeof(Shard) * kShards;
  for (std::size_t s = 0; s < kShards; ++s) {
    Shard& shard = shards_[s];
    std::lock_guard lock(shard.mu);
    const Word* array = shard.array.load(std::memory_order_relaxed);
    stats.blocks += shard.size;
    stats.memory_bytes += (kHeader + (count_of(array) + kTail) * stride_of(array)) * sizeof(Word);
  }
  return stats;
}

}  // namespace infergate::gateway::scheduling::prefix

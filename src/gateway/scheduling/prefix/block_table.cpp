#include "gateway/scheduling/prefix/block_table.hpp"

#include <cassert>

namespace infergate::gateway::scheduling::prefix {
namespace {

constexpr std::size_t kMinBuckets = 16;

// Load factors: grow above 3/4, shrink below 1/5, and rebuild at 1/2. Linear probing stays
// short at 3/4 (about 2.5 probes for a hit, 8.5 for a miss).
bool too_full(std::size_t size, std::size_t buckets) { return size * 4 > buckets * 3; }
bool too_empty(std::size_t size, std::size_t buckets) {
  return buckets > kMinBuckets && size * 5 < buckets;
}
std::size_t buckets_for(std::size_t size) { return size * 2 > kMinBuckets ? size * 2 : kMinBuckets; }

using Word = std::atomic<std::uint64_t>;

Word* allocate(std::size_t bucket_count, std::size_t stride) {
  return new Word[bucket_count * stride]();  // zeroed: every key empty
}
void free_buckets(void* block) { delete[] static_cast<Word*>(block); }

// Seqlock write section: readers that overlap it retry.
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

BlockTable::BlockTable(Reclaimer& reclaimer)
    : reclaimer_(reclaimer), shards_(std::make_unique<Shard[]>(kShards)) {
  for (std::size_t s = 0; s < kShards; ++s) {
    Shard& shard = shards_[s];
    shard.buckets.store(allocate(kMinBuckets, 2), std::memory_order_relaxed);
    shard.bucket_count.store(kMinBuckets, std::memory_order_relaxed);
    shard.stride.store(2, std::memory_order_relaxed);
  }
  std::atomic_thread_fence(std::memory_order_seq_cst);
}

BlockTable::~BlockTable() {
  for (std::size_t s = 0; s < kShards; ++s) {
    delete[] shards_[s].buckets.load(std::memory_order_relaxed);
  }
}

std::size_t BlockTable::locate(const Shard& shard, std::uint64_t block) noexcept {
  const Word* buckets = shard.buckets.load(std::memory_order_relaxed);
  const std::size_t count = shard.bucket_count.load(std::memory_order_relaxed);
  const std::size_t stride = shard.stride.load(std::memory_order_relaxed);
  std::size_t i = home_of(block, count);
  for (;;) {
    const std::uint64_t key = buckets[i * stride].load(std::memory_order_relaxed);
    if (key == block) return i;
    if (key == 0) return count;
    if (++i == count) i = 0;
  }
}

void BlockTable::rebuild(Shard& shard, std::size_t bucket_count, std::size_t stride) {
  Word* old = shard.buckets.load(std::memory_order_relaxed);
  const std::size_t old_count = shard.bucket_count.load(std::memory_order_relaxed);
  const std::size_t old_stride = shard.stride.load(std::memory_order_relaxed);
  // Built aside: readers keep using the old array meanwhile.
  Word* fresh = allocate(bucket_count, stride);
  const std::size_t copy_words = (old_stride < stride ? old_stride : stride);
  for (std::size_t b = 0; b < old_count; ++b) {
    const Word* from = old + b * old_stride;
    const std::uint64_t key = from[0].load(std::memory_order_relaxed);
    if (key == 0) continue;
    std::size_t i = home_of(key, bucket_count);
    while (fresh[i * stride].load(std::memory_order_relaxed) != 0) {
      if (++i == bucket_count) i = 0;
    }
    Word* to = fresh + i * stride;
    for (std::size_t w = 0; w < copy_words; ++w) {
      to[w].store(from[w].load(std::memory_order_relaxed), std::memory_order_relaxed);
    }
  }
  {
    WriteSection section(shard.seq);
    shard.buckets.store(fresh, std::memory_order_seq_cst);
    shard.bucket_count.store(bucket_count, std::memory_order_relaxed);
    shard.stride.store(stride, std::memory_order_relaxed);
  }
  reclaimer_.retire(old, &free_buckets);
}

void BlockTable::widen(std::size_t words) {
  assert(words <= kMaxWords);
  if (words <= words_.load(std::memory_order_relaxed)) return;
  for (std::size_t s = 0; s < kShards; ++s) {
    Shard& shard = shards_[s];
    std::lock_guard lock(shard.mu);
    rebuild(shard, shard.bucket_count.load(std::memory_order_relaxed), 1 + words);
  }
  // Published after every shard has the room, so a reader using words() never reads past a
  // bucket.
  words_.store(words, std::memory_order_release);
}

void BlockTable::add(std::uint64_t block, std::uint32_t slot) {
  assert(block != 0 && slot / 64 < words_.load(std::memory_order_relaxed));
  Shard& shard = shards_[shard_of(block)];
  std::lock_guard lock(shard.mu);
  std::size_t count = shard.bucket_count.load(std::memory_order_relaxed);
  std::size_t i = locate(shard, block);
  if (i == count) {
    if (too_full(shard.size + 1, count)) {
      rebuild(shard, buckets_for(shard.size + 1), shard.stride.load(std::memory_order_relaxed));
      count = shard.bucket_count.load(std::memory_order_relaxed);
    }
    Word* buckets = shard.buckets.load(std::memory_order_relaxed);
    const std::size_t stride = shard.stride.load(std::memory_order_relaxed);
    i = home_of(block, count);
    while (buckets[i * stride].load(std::memory_order_relaxed) != 0) {
      if (++i == count) i = 0;
    }
    WriteSection section(shard.seq);
    buckets[i * stride + 1 + slot / 64].store(std::uint64_t{1} << (slot % 64),
                                              std::memory_order_relaxed);
    buckets[i * stride].store(block, std::memory_order_relaxed);
    ++shard.size;
    return;
  }
  // One word changes: a reader sees it before or after, both consistent.
  Word& word = shard.buckets.load(std::memory_order_relaxed)[i * shard.stride.load(
                                                                  std::memory_order_relaxed) +
                                                              1 + slot / 64];
  word.store(word.load(std::memory_order_relaxed) | (std::uint64_t{1} << (slot % 64)),
             std::memory_order_relaxed);
}

void BlockTable::remove(std::uint64_t block, std::uint32_t slot) {
  Shard& shard = shards_[shard_of(block)];
  std::lock_guard lock(shard.mu);
  const std::size_t count = shard.bucket_count.load(std::memory_order_relaxed);
  const std::size_t i = locate(shard, block);
  if (i == count) return;
  Word* bucket = shard.buckets.load(std::memory_order_relaxed) +
                 i * shard.stride.load(std::memory_order_relaxed);
  const std::size_t stride = shard.stride.load(std::memory_order_relaxed);
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
    erase_at(shard, i);
  }
  --shard.size;
  if (too_empty(shard.size, count)) {
    rebuild(shard, buckets_for(shard.size), stride);
  }
}

void BlockTable::erase_at(Shard& shard, std::size_t index) noexcept {
  Word* buckets = shard.buckets.load(std::memory_order_relaxed);
  const std::size_t count = shard.bucket_count.load(std::memory_order_relaxed);
  const std::size_t stride = shard.stride.load(std::memory_order_relaxed);
  // Backward-shift deletion: pull each later entry of the run into the hole when its home
  // does not lie strictly between the hole and itself.
  std::size_t hole = index;
  std::size_t j = index;
  for (;;) {
    if (++j == count) j = 0;
    const std::uint64_t key = buckets[j * stride].load(std::memory_order_relaxed);
    if (key == 0) break;
    const std::size_t home = home_of(key, count);
    const std::size_t from_home = (j + count - home) % count;
    const std::size_t from_hole = (j + count - hole) % count;
    if (from_home < from_hole) continue;  // would move before its home
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

BlockTable::Stats BlockTable::stats() const {
  Stats stats;
  stats.memory_bytes = sizeof(Shard) * kShards;
  for (std::size_t s = 0; s < kShards; ++s) {
    Shard& shard = shards_[s];
    std::lock_guard lock(shard.mu);
    stats.blocks += shard.size;
    stats.memory_bytes += shard.bucket_count.load(std::memory_order_relaxed) *
                          shard.stride.load(std::memory_order_relaxed) * sizeof(Word);
  }
  return stats;
}

}  // namespace infergate::gateway::scheduling::prefix

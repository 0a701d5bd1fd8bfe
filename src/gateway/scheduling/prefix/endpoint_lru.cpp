#include "gateway/scheduling/prefix/endpoint_lru.hpp"

#include <algorithm>
#include <cassert>

namespace infergate::gateway::scheduling::prefix {
namespace {

constexpr std::size_t kMinBuckets = 16;

// Buckets for `size` blocks at a load of 3/4.
std::size_t buckets_at_most_full(std::size_t size) {
  return std::max(kMinBuckets, size + (size + 2) / 3);
}

}  // namespace

void EndpointLru::set_capacity_hint(std::size_t capacity) {
  capacity_hint_ = capacity;
  // A table far larger than the new capacity needs gives its memory back.
  if (bucket_count_ > kMinBuckets && bucket_count_ > 2 * buckets_at_most_full(capacity)) {
    rebuild(buckets_at_most_full(std::max(size_, capacity)));
  }
}

std::uint32_t EndpointLru::locate(std::uint64_t block) const noexcept {
  if (bucket_count_ == 0) return kNil;
  std::size_t i = home_of(block);
  for (;;) {
    const std::uint64_t key = buckets_[i].key;
    if (key == block) return static_cast<std::uint32_t>(i);
    if (key == 0) return kNil;
    if (++i == bucket_count_) i = 0;
  }
}

void EndpointLru::prefetch(std::uint64_t block) const noexcept {
  if (bucket_count_ != 0) __builtin_prefetch(&buckets_[home_of(block)]);
}

void EndpointLru::unlink(std::uint32_t b) noexcept {
  Bucket& node = buckets_[b];
  if (node.prev != kNil)
    buckets_[node.prev].next = node.next;
  else
    head_ = node.next;
  if (node.next != kNil)
    buckets_[node.next].prev = node.prev;
  else
    tail_ = node.prev;
}

void EndpointLru::push_front(std::uint32_t b) noexcept {
  Bucket& node = buckets_[b];
  node.prev = kNil;
  node.next = head_;
  if (head_ != kNil)
    buckets_[head_].prev = b;
  else
    tail_ = b;
  head_ = b;
}

bool EndpointLru::touch(std::uint64_t block) noexcept {
  const std::uint32_t b = locate(block);
  if (b == kNil) return false;
  if (b != head_) {
    unlink(b);
    push_front(b);
  }
  return true;
}

void EndpointLru::insert(std::uint64_t block) {
  assert(block != 0);
  if ((size_ + 1) * 4 > bucket_count_ * 3) {
    // Double, but stop at what the capacity needs so a full endpoint sits at 3/4.
    std::size_t grown = std::max(kMinBuckets, bucket_count_ * 2);
    if (capacity_hint_ > size_) grown = std::min(grown, buckets_at_most_full(capacity_hint_));
    rebuild(std::max(grown, buckets_at_most_full(size_ + 1)));
  }
  std::size_t i = home_of(block);
  while (buckets_[i].key != 0) {
    if (++i == bucket_count_) i = 0;
  }
  buckets_[i].key = block;
  push_front(static_cast<std::uint32_t>(i));
  ++size_;
}

std::uint64_t EndpointLru::pop_oldest() noexcept {
  assert(size_ > 0);
  const std::uint64_t block = buckets_[tail_].key;
  erase_at(tail_);
  // A record() evicts one block per new block: the next eviction unlinks the new oldest from
  // its neighbour, a cache miss worth starting now.
  if (tail_ != kNil && buckets_[tail_].prev != kNil)
    __builtin_prefetch(&buckets_[buckets_[tail_].prev]);
  return block;
}

bool EndpointLru::erase(std::uint64_t block) noexcept {
  const std::uint32_t b = locate(block);
  if (b == kNil) return false;
  erase_at(b);
  if (bucket_count_ > kMinBuckets && size_ * 5 < bucket_count_) {
    rebuild(buckets_at_most_full(size_ * 3 / 2));
  }
  return true;
}

void EndpointLru::erase_at(std::uint32_t b) noexcept {
  unlink(b);
  --size_;
  // Backward-shift deletion; a moved entry takes its list links along.
  std::size_t hole = b;
  std::size_t j = b;
  for (;;) {
    if (++j == bucket_count_) j = 0;
    const std::uint64_t key = buckets_[j].key;
    if (key == 0) break;
    const std::size_t home = home_of(key);
    const std::size_t from_home = (j + bucket_count_ - home) % bucket_count_;
    const std::size_t from_hole = (j + bucket_count_ - hole) % bucket_count_;
    if (from_home < from_hole) continue;
    const Bucket moved = buckets_[j];
    buckets_[hole] = moved;
    const auto to = static_cast<std::uint32_t>(hole);
    if (moved.prev != kNil)
      buckets_[moved.prev].next = to;
    else
      head_ = to;
    if (moved.next != kNil)
      buckets_[moved.next].prev = to;
    else
      tail_ = to;
    hole = j;
  }
  buckets_[hole].key = 0;
}

void EndpointLru::rebuild(std::size_t bucket_count) {
  auto old = std::move(buckets_);
  const std::uint32_t old_tail = tail_;
  buckets_ = std::make_unique<Bucket[]>(bucket_count);  // zeroed: every key empty
  bucket_count_ = bucket_count;
  head_ = tail_ = kNil;
  // Oldest first, each to the front: the order survives.
  for (std::uint32_t b = old_tail; b != kNil; b = old[b].prev) {
    std::size_t i = home_of(old[b].key);
    while (buckets_[i].key != 0) {
      if (++i == bucket_count_) i = 0;
    }
    buckets_[i].key = old[b].key;
    push_front(static_cast<std::uint32_t>(i));
  }
}

void EndpointLru::clear() noexcept {
  buckets_.reset();
  bucket_count_ = 0;
  size_ = 0;
  head_ = tail_ = kNil;
}

}  // namespace infergate::gateway::scheduling::prefix

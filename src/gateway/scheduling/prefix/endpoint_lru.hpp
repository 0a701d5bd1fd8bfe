// The blocks one endpoint holds, in least-recently-used order.
//
// One open-addressing table (linear probing, backward-shift deletion) whose buckets are also
// the nodes of the recency list: 16 bytes per bucket (key, previous, next), at most 3/4 full,
// so about 21 bytes per block once the table has grown to the endpoint's capacity. Moving an
// entry during a deletion patches its neighbours' links.
//
// Key 0 marks an empty bucket (callers map block hash 0 to 1).
//
// Thread-safety: none; PrefixIndex guards each with its endpoint's mutex.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

namespace infergate::gateway::scheduling::prefix {

class EndpointLru {
 public:
  EndpointLru() = default;
  EndpointLru(EndpointLru&&) = default;
  EndpointLru& operator=(EndpointLru&&) = default;

  std::size_t size() const noexcept { return size_; }
  std::size_t memory_bytes() const noexcept { return bucket_count_ * sizeof(Bucket); }

  // The most blocks the endpoint will hold: the table never grows past what that needs.
  void set_capacity_hint(std::size_t capacity);

  // Makes `block` the most recently used; false when absent.
  bool touch(std::uint64_t block) noexcept;
  // Adds an absent `block` as the most recently used.
  void insert(std::uint64_t block);
  // Removes the least recently used block and returns it. size() > 0.
  std::uint64_t pop_oldest() noexcept;
  // False when absent.
  bool erase(std::uint64_t block) noexcept;
  // Empties the set and frees its memory.
  void clear() noexcept;

  // Oldest first.
  template <class Visit>
  void for_each_oldest_first(Visit visit) const {
    for (std::uint32_t b = tail_; b != kNil; b = buckets_[b].prev) visit(buckets_[b].key);
  }

  void prefetch(std::uint64_t block) const noexcept;

 private:
  static constexpr std::uint32_t kNil = 0xffffffffu;
  struct Bucket {
    std::uint64_t key;
    std::uint32_t prev;  // towards the most recent
    std::uint32_t next;  // towards the oldest
  };

  std::size_t home_of(std::uint64_t block) const noexcept {
    __extension__ using Wide = unsigned __int128;
    return static_cast<std::size_t>((static_cast<Wide>(block) * bucket_count_) >> 64);
  }
  std::uint32_t locate(std::uint64_t block) const noexcept;
  void unlink(std::uint32_t b) noexcept;
  void push_front(std::uint32_t b) noexcept;
  void erase_at(std::uint32_t b) noexcept;
  void rebuild(std::size_t bucket_count);

  std::unique_ptr<Bucket[]> buckets_;
  std::size_t bucket_count_ = 0;
  std::size_t size_ = 0;
  std::size_t capacity_hint_ = 0;
  std::uint32_t head_ = kNil;  // most recent
  std::uint32_t tail_ = kNil;  // oldest
};

}  // namespace infergate::gateway::scheduling::prefix

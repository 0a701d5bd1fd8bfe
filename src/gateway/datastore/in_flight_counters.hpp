// Where the Datastore keeps its endpoints' in-flight request counters: packed, sixteen to a
// cache line, in the order the endpoints were made (counters released by endpoints that left
// are handed out again first, so after churn a pool's counters are dense rather than in
// order). A scheduling decision reads the count of every endpoint of its pool; packed, 500
// endpoints are 32 lines instead of 500 (one per Endpoint object), which made that read about
// 150 ns cheaper (the decision is about 2 us).
// A counter is written at each dispatch and completion of a request on its endpoint, so
// workers dispatching to neighbouring endpoints share lines: a contended add costs one
// transfer of the line, far less than what each request does besides.
//
// Thread-safety: acquire() and the counters' release may run on any threads at once.
#pragma once

#include <array>
#include <atomic>
#include <memory>
#include <mutex>
#include <vector>

namespace infergate::gateway {

class InFlightCounters : public std::enable_shared_from_this<InFlightCounters> {
 public:
  // A zeroed counter, returned to this arena when the last copy of the pointer goes (the arena
  // lives as long as any of its counters). Made with std::make_shared only.
  std::shared_ptr<std::atomic<int>> acquire();

  // A counter of its own, for an endpoint made outside a Datastore (tests, benchmarks).
  static std::shared_ptr<std::atomic<int>> standalone();

 private:
  static constexpr std::size_t kPerChunk = 1024;  // 4 KB, on cache-line boundaries
  struct alignas(64) Chunk {
    std::array<std::atomic<int>, kPerChunk> counters;
  };

  void release(std::atomic<int>* counter);

  std::mutex mu_;
  std::vector<std::unique_ptr<Chunk>> chunks_;  // never moved or freed while the arena lives
  std::size_t used_in_last_ = kPerChunk;        // of chunks_.back()
  std::vector<std::atomic<int>*> free_;         // released, reused before new ones
};

}  // namespace infergate::gateway

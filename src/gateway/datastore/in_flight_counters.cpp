#include "gateway/datastore/in_flight_counters.hpp"

namespace infergate::gateway {

std::shared_ptr<std::atomic<int>> InFlightCounters::acquire() {
  std::atomic<int>* counter = nullptr;
  {
    std::lock_guard lock(mu_);
    if (!free_.empty()) {
      counter = free_.back();
      free_.pop_back();
    } else {
      if (used_in_last_ == kPerChunk) {
        chunks_.push_back(std::make_unique<Chunk>());
        used_in_last_ = 0;
      }
      counter = &chunks_.back()->counters[used_in_last_++];
    }
  }
  counter->store(0, std::memory_order_relaxed);
  return {counter, [arena = shared_from_this()](std::atomic<int>* c) { arena->release(c); }};
}

std::shared_ptr<std::atomic<int>> InFlightCounters::standalone() {
  return std::make_shared<std::atomic<int>>(0);
}

void InFlightCounters::release(std::atomic<int>* counter) {
  std::lock_guard lock(mu_);
  free_.push_back(counter);
}

}  // namespace infergate::gateway

#include "gateway/scheduling/framework/decision_log.hpp"

namespace infergate::gateway::scheduling {

void DecisionLog::watch() {
  watched_until_.store((clock_.now() + window_).count(), std::memory_order_relaxed);
}

void DecisionLog::record(Decision decision) {
  std::lock_guard lock(mutex_);
  decision.seq = ++seq_;
  if (ring_.size() < kCapacity) {
    ring_.push_back(std::move(decision));
    return;
  }
  ring_[next_] = std::move(decision);
  next_ = (next_ + 1) % kCapacity;
}

std::vector<Decision> DecisionLog::recent() const {
  std::lock_guard lock(mutex_);
  std::vector<Decision> out;
  out.reserve(ring_.size());
  // Newest first: the one before next_, walking back around the ring.
  for (std::size_t k = 0; k < ring_.size(); ++k)
    out.push_back(ring_[(next_ + ring_.size() - 1 - k) % ring_.size()]);
  return out;
}

}  // namespace infergate::gateway::scheduling

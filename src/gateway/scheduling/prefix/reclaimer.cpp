#include "gateway/scheduling/prefix/reclaimer.hpp"

namespace infergate::gateway::scheduling::prefix {
namespace {

std::size_t thread_stripe(std::size_t stripes) {
  static std::atomic<std::size_t> next_thread{0};
  thread_local const std::size_t stripe = next_thread.fetch_add(1, std::memory_order_relaxed);
  return stripe % stripes;
}

}  // namespace

Reclaimer::ReadGuard::ReadGuard(const Reclaimer& reclaimer) noexcept
    : readers_(reclaimer.stripes_[thread_stripe(kStripes)].readers) {
  readers_.fetch_add(1, std::memory_order_seq_cst);
}

Reclaimer::ReadGuard::~ReadGuard() { readers_.fetch_sub(1, std::memory_order_release); }

Reclaimer::~Reclaimer() {
  for (const Retired& r : retired_) r.free_block(r.block);
}

void Reclaimer::retire(void* block, void (*free_block)(void*)) {
  std::lock_guard lock(mu_);
  retired_.push_back({block, free_block});
  has_retired_.store(true, std::memory_order_relaxed);
  collect_locked();
}

void Reclaimer::collect() {
  if (!has_retired_.load(std::memory_order_relaxed)) return;
  std::unique_lock lock(mu_, std::try_to_lock);
  if (lock.owns_lock()) collect_locked();
}

std::size_t Reclaimer::pending() const {
  std::lock_guard lock(mu_);
  return retired_.size();
}

bool Reclaimer::quiescent() const {
  // Every block queued was unpublished before this scan. A stripe seen at zero has no reader
  // that entered before the unpublishing and is still inside; a reader entering later loads
  // the new pointer.
  for (const Stripe& s : stripes_) {
    if (s.readers.load(std::memory_order_seq_cst) != 0) return false;
  }
  return true;
}

void Reclaimer::collect_locked() {
  if (retired_.empty() || !quiescent()) return;
  for (const Retired& r : retired_) r.free_block(r.block);
  retired_.clear();
  has_retired_.store(false, std::memory_order_relaxed);
}

}  // namespace infergate::gateway::scheduling::prefix

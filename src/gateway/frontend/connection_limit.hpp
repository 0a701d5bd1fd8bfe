// The most client connections open at once, over every worker's front end. A front end at the
// limit stops accepting (new connections wait in the kernel's listen backlog) until a
// connection closes in any worker; then every waiting front end is woken to try again.
//
// Thread-safety: every member may be called from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <utility>
#include <vector>

namespace infergate::gateway {

class ConnectionLimit {
 public:
  explicit ConnectionLimit(std::size_t max) : max_(max) {}

  // Takes a connection slot; when none is free, keeps `wake` to be called (on the releasing
  // thread, once) when one may be, and returns the id to forget it by.
  struct Acquired {
    bool ok = false;
    std::uint64_t wait_id = 0;
  };
  Acquired acquire_or_wait(std::function<void()> wake) {
    std::lock_guard lock(mutex_);
    if (open_ < max_) {
      ++open_;
      return {true, 0};
    }
    waiters_.emplace_back(++last_id_, std::move(wake));
    return {false, last_id_};
  }
  // Forgets a wait (its owner stops waiting); after it returns, its wake is not running and
  // will not be called.
  void forget(std::uint64_t wait_id) {
    std::lock_guard lock(mutex_);
    std::erase_if(waiters_, [&](const auto& w) { return w.first == wait_id; });
  }
  void release() {
    std::lock_guard lock(mutex_);
    if (open_ > 0) --open_;
    for (auto& [id, wake] : waiters_) wake();
    waiters_.clear();
  }
  std::size_t open() const {
    std::lock_guard lock(mutex_);
    return open_;
  }
  std::size_t max() const { return max_; }

 private:
  const std::size_t max_;
  mutable std::mutex mutex_;
  std::size_t open_ = 0;
  std::uint64_t last_id_ = 0;
  std::vector<std::pair<std::uint64_t, std::function<void()>>> waiters_;
};

}  // namespace infergate::gateway

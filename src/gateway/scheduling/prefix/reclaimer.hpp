// Deferred freeing for memory that lock-free readers may still be reading.
//
// A reader brackets its reads with a ReadGuard (one atomic increment and decrement on a
// counter striped by thread). A writer that unpublishes a block (an atomic pointer swap) hands
// it to retire(); the block is freed once every stripe has been seen at zero after the swap, so
// no reader that could have loaded the old pointer is still inside. Readers never wait;
// writers never wait either: a block that cannot be freed yet stays queued for a later
// retire() or collect().
//
// Correctness needs the readers' pointer loads to be seq_cst (free on x86), so that the
// counter increment and the pointer load cannot pass the writer's swap and scan.
//
// Thread-safety: every method may be called from any thread.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <vector>

namespace infergate::gateway::scheduling::prefix {

class Reclaimer {
 public:
  Reclaimer() = default;
  Reclaimer(const Reclaimer&) = delete;
  Reclaimer& operator=(const Reclaimer&) = delete;
  ~Reclaimer();

  class ReadGuard {
   public:
    explicit ReadGuard(const Reclaimer& reclaimer) noexcept;
    ReadGuard(const ReadGuard&) = delete;
    ReadGuard& operator=(const ReadGuard&) = delete;
    ~ReadGuard();

   private:
    std::atomic<std::uint64_t>& readers_;
  };

  // `block` is no longer reachable from any published pointer; `free_block(block)` runs once
  // no reader can hold it.
  void retire(void* block, void (*free_block)(void*));

  // Frees what can be freed now. Cheap when nothing is queued.
  void collect();

  // Blocks queued and not yet freed (for tests and stats).
  std::size_t pending() const;

 private:
  static constexpr std::size_t kStripes = 16;
  struct alignas(64) Stripe {
    std::atomic<std::uint64_t> readers{0};
  };
  struct Retired {
    void* block;
    void (*free_block)(void*);
  };

  bool quiescent() const;
  void collect_locked();

  mutable std::array<Stripe, kStripes> stripes_{};
  mutable std::mutex mu_;
  std::vector<Retired> retired_;  // under mu_
  std::atomic<bool> has_retired_{false};
};

}  // namespace infergate::gateway::scheduling::prefix

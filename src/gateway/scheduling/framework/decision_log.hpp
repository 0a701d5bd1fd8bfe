// The last scheduling decisions and why each endpoint was chosen, for the admin listener's live
// page (/dashboard/decisions): the candidates the filters left, and the chosen endpoint and the
// runners-up with each scorer's weighted share of their totals.
//
// It costs nothing while nobody looks: a decision is recorded only while someone asked for the
// log within the last watch window (watch()), which a decision checks with one relaxed atomic
// load of a deadline; only recording takes the mutex (and allocates).
//
// Thread-safety: every member from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "common/clock.hpp"

namespace infergate::gateway::scheduling {

// One scorer's part of an endpoint's total: weight x its score clamped to [0, 1].
struct ScorerShare {
  std::string scorer{};
  double weight = 0;
  double weighted = 0;
};

struct ScoredEndpoint {
  std::string endpoint{};
  std::string address{};
  double total = 0;
  std::vector<ScorerShare> shares{};  // in the profile's order of scorers
};

struct Decision {
  std::uint64_t seq = 0;  // 1, 2, ... in the order recorded
  TimePoint at{};
  std::string pool{};
  std::string profile{};
  std::string picker{};
  std::string target_model{};
  std::size_t endpoints = 0;   // in the pool
  std::size_t candidates = 0;  // usable and left by the filters
  ScoredEndpoint chosen{};
  std::vector<ScoredEndpoint> runners_up{};  // the next best totals, best first
};

class DecisionLog {
 public:
  static constexpr std::size_t kCapacity = 20;
  static constexpr std::size_t kRunnersUp = 2;

  explicit DecisionLog(const Clock& clock, Duration watch_window = std::chrono::seconds(30))
      : clock_(clock), window_(watch_window) {}

  // Someone looks: decisions are recorded until the watch window has passed.
  void watch();
  // Whether a decision made at `now` should be recorded (the hot path's one check).
  bool recording(TimePoint now) const {
    return now.count() < watched_until_.load(std::memory_order_relaxed);
  }
  // Keeps `decision` (its seq is assigned here), dropping the oldest beyond kCapacity.
  void record(Decision decision);
  // The decisions kept, newest first.
  std::vector<Decision> recent() const;
  const Clock& clock() const { return clock_; }

 private:
  const Clock& clock_;
  const Duration window_;
  std::atomic<std::int64_t> watched_until_{0};  // ns on clock_; 0: never watched
  mutable std::mutex mutex_;
  std::vector<Decision> ring_;  // at most kCapacity; next_ is the oldest once full
  std::size_t next_ = 0;
  std::uint64_t seq_ = 0;
};

}  // namespace infergate::gateway::scheduling

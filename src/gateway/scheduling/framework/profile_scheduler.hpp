// The Scheduler of a pool that runs a SchedulingProfile. A decision's candidates are the
// pool's endpoints minus those already tried by the request, those whose scrapes fail
// (endpoint health) and those ejected for failing requests (OutlierDetector). Each candidate
// carries its latest metrics; a sample older than the staleness bound (or none at all) counts
// as saturated while scraping is on. When the request is dispatched, its prompt blocks are
// recorded in the pool's prefix index (PrefixIndexes keeps it) for the chosen endpoint, and
// moved on a retry. While the options' DecisionLog is watched, each decision is explained there.
//
// Thread-safety: begin() from any thread; a session belongs to its request's thread.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>

#include "gateway/scheduling/framework/profile.hpp"
#include "gateway/scheduling/scheduler.hpp"

namespace infergate::gateway::scheduling {

namespace prefix {
class PrefixIndex;
}

struct SchedulerOptions {
  std::string default_profile =
      "default";  // for pools that name none, without an EndpointPickerConfig
  std::chrono::nanoseconds metrics_staleness = std::chrono::milliseconds(200);
  bool scraping = true;  // false: no metrics are expected, none is stale
  // Where decisions are explained while someone watches (the dashboard; null: nowhere).
  std::shared_ptr<DecisionLog> decisions{};
};

class ProfileScheduler final : public Scheduler {
 public:
  // `prefix_index`: the pool's (null: no prefix-cache matching or recording).
  ProfileScheduler(std::shared_ptr<const SchedulingProfile> profile, SchedulerOptions options,
                   std::shared_ptr<prefix::PrefixIndex> prefix_index = nullptr)
      : profile_(std::move(profile)),
        options_(std::move(options)),
        prefix_index_(std::move(prefix_index)) {}

  std::unique_ptr<SchedulingSession> begin(PoolState& pool, const SchedulingRequest& request,
                                           SchedulingEnv env) override;
  // The prefix window of its profile (blocks x block size); 0 without prefix-aware plugins.
  std::size_t prompt_chars() const override;
  const SchedulingProfile& profile() const { return *profile_; }

 private:
  std::shared_ptr<const SchedulingProfile> profile_;
  SchedulerOptions options_;
  std::shared_ptr<prefix::PrefixIndex> prefix_index_;
  // The pool's prefix totals (PrefixMatchMetrics::for_pool, which locks), found at its first
  // decision: a scheduler serves one pool.
  std::atomic<PrefixMatchMetrics::PoolTotals*> pool_totals_{nullptr};
};

}  // namespace infergate::gateway::scheduling

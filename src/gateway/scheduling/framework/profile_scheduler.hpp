// The Scheduler of a pool that runs a SchedulingProfile. A decision's candidates are the
// pool's endpoints minus those already tried by the request, those whose scrapes fail
// (endpoint health) and those ejected for failing requests (OutlierDetector). Each candidate
// carries its latest metrics; a sample older than the staleness bound (or none at all) counts
// as saturated while scraping is on. After picking, the request's prompt blocks are recorded
// in the pool's prefix index for the chosen endpoint, and moved on a retry.
//
// Thread-safety: begin() from any thread; a session belongs to its request's thread.
#pragma once

#include <chrono>
#include <memory>

#include "gateway/scheduling/framework/profile.hpp"
#include "gateway/scheduling/scheduler.hpp"

namespace infergate::gateway::scheduling {

struct SchedulerOptions {
  std::string default_profile =
      "default";  // for pools that name none, without an EndpointPickerConfig
  std::chrono::nanoseconds metrics_staleness = std::chrono::milliseconds(200);
  bool scraping = true;  // false: no metrics are expected, none is stale
};

class ProfileScheduler final : public Scheduler {
 public:
  ProfileScheduler(std::shared_ptr<const SchedulingProfile> profile, SchedulerOptions options)
      : profile_(std::move(profile)), options_(std::move(options)) {}

  std::unique_ptr<SchedulingSession> begin(PoolState& pool, const SchedulingRequest& request,
                                           SchedulingEnv env) override;
  const SchedulingProfile& profile() const { return *profile_; }

 private:
  std::shared_ptr<const SchedulingProfile> profile_;
  SchedulerOptions options_;
};

}  // namespace infergate::gateway::scheduling

// From configuration to schedulers. A pool's profile is, in order: the one its annotation
// infergate.dev/scheduling-profile names (a profile of the configuration's
// EndpointPickerConfig, else a ready-made one); else the EndpointPickerConfig's profile
// `default` (or its first); else the ready-made profile SchedulerOptions::default_profile.
// A profile without a picker uses max-score-picker; a scorer without a weight weighs 1.
#pragma once

#include <memory>

#include "config/config.hpp"
#include "gateway/scheduling/framework/prefix_indexes.hpp"
#include "gateway/scheduling/framework/profile_scheduler.hpp"

namespace infergate::gateway::scheduling {

// The profile of pool `pool_index`, or null with errors in `diag`.
std::shared_ptr<const SchedulingProfile> build_pool_profile(const config::Config& config,
                                                            std::size_t pool_index,
                                                            const SchedulerOptions& options,
                                                            config::Diagnostics& diag);

// A config::ConfigValidator that builds every pool's profile and reports what fails.
config::ConfigValidator scheduling_validator(SchedulerOptions options);

// A Datastore SchedulerFactory (the configuration must have passed the validator); each pool's
// scheduler uses the pool's index in `prefix_indexes` (null: no prefix-cache state).
SchedulerFactory scheduler_factory(SchedulerOptions options,
                                   std::shared_ptr<PrefixIndexes> prefix_indexes = nullptr);

}  // namespace infergate::gateway::scheduling

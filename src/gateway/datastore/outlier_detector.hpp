// Outlier ejection from request outcomes (as Envoy's consecutive-5xx detector): an endpoint
// that fails `consecutive_failures` requests in a row (5xx answers, resets, refused or failed
// connections) while its /metrics may still look healthy is taken out of picking for
// base_ejection x (times ejected so far + 1), capped at max_ejection. No more than
// max_ejected_share of a pool is ejected at once, and never its last endpoint. A success
// clears the failure run; `times_ejected` decays after an endpoint has served well for a
// while (max_ejection without an ejection).
//
// Thread-safety: report() from any thread (atomics; a racing pair may both count, which only
// makes an ejection a request earlier).
#pragma once

#include <chrono>

#include "common/clock.hpp"
#include "gateway/datastore/datastore.hpp"

namespace infergate::gateway {

struct OutlierOptions {
  int consecutive_failures = 5;  // 0: ejection off
  std::chrono::milliseconds base_ejection{10000};
  std::chrono::milliseconds max_ejection{300000};
  double max_ejected_share = 0.5;
};

enum class AttemptOutcome { kSuccess, kFailure, kNeutral };  // neutral: 4xx, 429, client gone

// Returns true when this report ejected the endpoint. The clock is read only when the time
// matters: a failure that completes a run, a success after an ejection.
bool report_outcome(const OutlierOptions& options, PoolState& pool, Endpoint& endpoint,
                    AttemptOutcome outcome, const Clock& clock);

}  // namespace infergate::gateway

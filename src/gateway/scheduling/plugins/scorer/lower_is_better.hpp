// The score of a load signal where less is better, normalised over the candidates:
// (max - x) / (max - min), 1 for all when they are equal. Shared by queue-scorer and
// running-requests-scorer.
#pragma once

#include <algorithm>
#include <span>

#include "gateway/scheduling/framework/cycle_state.hpp"

namespace infergate::gateway::scheduling {

// out[i] for c[i], from `signal(candidate)` (a double).
template <typename Signal>
void score_lower_is_better(std::span<Candidate* const> c, std::span<double> out, Signal signal) {
  double lo = 0, hi = 0;
  for (std::size_t i = 0; i < c.size(); ++i) {
    const double v = signal(*c[i]);
    lo = i == 0 ? v : std::min(lo, v);
    hi = i == 0 ? v : std::max(hi, v);
  }
  for (std::size_t i = 0; i < c.size(); ++i)
    out[i] = hi == lo ? 1.0 : (hi - signal(*c[i])) / (hi - lo);
}

}  // namespace infergate::gateway::scheduling

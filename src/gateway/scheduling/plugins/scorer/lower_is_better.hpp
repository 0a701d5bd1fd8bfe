// The score of a load signal where less is better, normalised over the candidates:
// (max - x) / (max - min), 1 for all when they are equal. Shared by queue-scorer and
// running-requests-scorer.
#pragma once

#include <algorithm>
#include <span>

#include "gateway/scheduling/framework/cycle_state.hpp"

namespace infergate::gateway::scheduling {

// out[i] for c[i], from `signal(candidate)` (a double). The signals are read once, into `out`,
// then rescaled in place: one pass through the candidates' pointers instead of two.
template <typename Signal>
void score_lower_is_better(std::span<Candidate* const> c, std::span<double> out, Signal signal) {
  if (c.empty()) return;
  double lo = signal(*c[0]), hi = lo;
  out[0] = lo;
  for (std::size_t i = 1; i < c.size(); ++i) {
    const double v = signal(*c[i]);
    out[i] = v;
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  if (hi == lo) {
    std::fill_n(out.begin(), c.size(), 1.0);
    return;
  }
  const double range = hi - lo;
  for (std::size_t i = 0; i < c.size(); ++i) out[i] = (hi - out[i]) / range;
}

}  // namespace infergate::gateway::scheduling

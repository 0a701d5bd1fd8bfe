// The score of a load signal where less is better, normalised over the candidates:
// (max - x) / (max - min), 1 for all when they are equal. Shared by queue-scorer and
// running-requests-scorer.
#pragma once

#include <algorithm>
#include <span>

#include "gateway/scheduling/framework/cycle_state.hpp"

namespace infergate::gateway::scheduling {

// out[i] from signal[i], a column of the candidates (Candidates::waiting, say).
inline void score_lower_is_better(std::span<const double> signal, std::span<double> out) {
  const std::size_t n = signal.size();
  if (n == 0) return;
  const double* __restrict x = signal.data();
  double lo = x[0], hi = x[0];
  for (std::size_t i = 1; i < n; ++i) {
    lo = x[i] < lo ? x[i] : lo;
    hi = x[i] > hi ? x[i] : hi;
  }
  if (hi == lo) {
    std::fill_n(out.begin(), n, 1.0);
    return;
  }
  const double scale = 1.0 / (hi - lo);
  double* __restrict o = out.data();
  for (std::size_t i = 0; i < n; ++i) o[i] = (hi - x[i]) * scale;
}

}  // namespace infergate::gateway::scheduling

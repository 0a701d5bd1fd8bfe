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
  // Four running minima and maxima: one pair would wait on its own last compare each step.
  double lo[4] = {x[0], x[0], x[0], x[0]}, hi[4] = {x[0], x[0], x[0], x[0]};
  std::size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    for (std::size_t k = 0; k < 4; ++k) {
      lo[k] = x[i + k] < lo[k] ? x[i + k] : lo[k];
      hi[k] = x[i + k] > hi[k] ? x[i + k] : hi[k];
    }
  }
  for (; i < n; ++i) {
    lo[0] = x[i] < lo[0] ? x[i] : lo[0];
    hi[0] = x[i] > hi[0] ? x[i] : hi[0];
  }
  for (std::size_t k = 1; k < 4; ++k) {
    lo[0] = lo[k] < lo[0] ? lo[k] : lo[0];
    hi[0] = hi[k] > hi[0] ? hi[k] : hi[0];
  }
  if (hi[0] == lo[0]) {
    std::fill_n(out.begin(), n, 1.0);
    return;
  }
  const double top = hi[0];
  const double scale = 1.0 / (top - lo[0]);
  double* __restrict o = out.data();
  for (std::size_t j = 0; j < n; ++j) o[j] = (top - x[j]) * scale;
}

}  // namespace infergate::gateway::scheduling

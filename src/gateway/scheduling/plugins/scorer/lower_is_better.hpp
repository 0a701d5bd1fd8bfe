// The score of a load signal where less is better, normalised over the candidates:
// (max - x) / (max - min), 1 for all when they are equal. Shared by queue-scorer and
// running-requests-scorer.
#pragma once

#include <algorithm>
#include <span>

#include "gateway/scheduling/framework/cycle_state.hpp"
#include "gateway/scheduling/framework/lanes.hpp"
#include "gateway/scheduling/framework/weighted_sum.hpp"

namespace infergate::gateway::scheduling {

// out[i] from signal[i], a column of the candidates (Candidates::waiting, say).
inline void score_lower_is_better(std::span<const double> signal, std::span<double> out) {
  const std::size_t n = signal.size();
  if (n == 0) return;
  const double* __restrict x = signal.data();
  const lanes::Range r = lanes::range_of(x, n);
  if (r.hi == r.lo) {
    std::fill_n(out.begin(), n, 1.0);
    return;
  }
  const double top = r.hi;
  const double scale = 1.0 / (top - r.lo);
  double* __restrict o = out.data();
  for (std::size_t j = 0; j < n; ++j) o[j] = (top - x[j]) * scale;
}

// Adds those scores, weighted, to the totals in the same pass (Scorer::add_scores).
inline void add_lower_is_better(std::span<const double> signal, double weight, const double* from,
                                std::span<double> totals) {
  const std::size_t n = signal.size();
  if (n == 0) return;
  const double* __restrict x = signal.data();
  const lanes::Range r = lanes::range_of(x, n);
  if (r.hi == r.lo) return add_weighted(from, weight, totals, [](std::size_t) { return 1.0; });
  const double top = r.hi;
  const double scale = 1.0 / (top - r.lo);
  add_weighted(from, weight, totals, [=](std::size_t j) { return (top - x[j]) * scale; });
}

}  // namespace infergate::gateway::scheduling

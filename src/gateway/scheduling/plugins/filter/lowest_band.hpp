// The lowest band of one load signal over the candidates, [min, min + (max - min) / n] for n
// candidates (upstream's legacy rule); shared by least-queue-filter and least-kv-cache-filter.
#pragma once

#include <algorithm>
#include <vector>

#include "gateway/scheduling/framework/cycle_state.hpp"

namespace infergate::gateway::scheduling {

// Keeps the candidates whose `signal` (one of their columns) lies in the lowest band.
inline void keep_lowest_band(Candidates& c, std::vector<double> Candidates::*signal) {
  if (c.empty()) return;
  const std::vector<double>& x = c.*signal;
  const auto [lo, hi] = std::minmax_element(x.begin(), x.end());
  const double limit = *lo + (*hi - *lo) / static_cast<double>(c.size());
  c.retain_if([&](std::size_t i) { return x[i] <= limit; });
}

}  // namespace infergate::gateway::scheduling

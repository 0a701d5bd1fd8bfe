// The lowest band of one load signal over the candidates, [min, min + (max - min) / n] for n
// candidates (upstream's legacy rule); shared by least-queue-filter and least-kv-cache-filter.
#pragma once

#include <algorithm>
#include <vector>

#include "gateway/scheduling/framework/cycle_state.hpp"

namespace infergate::gateway::scheduling {

// Keeps the candidates whose `signal` lies in the lowest band.
inline void keep_lowest_band(std::vector<Candidate*>& c, double Candidate::*signal) {
  if (c.empty()) return;
  double lo = c.front()->*signal, hi = lo;
  for (const Candidate* x : c) {
    lo = std::min(lo, x->*signal);
    hi = std::max(hi, x->*signal);
  }
  const double limit = lo + (hi - lo) / static_cast<double>(c.size());
  std::erase_if(c, [&](const Candidate* x) { return x->*signal > limit; });
}

}  // namespace infergate::gateway::scheduling

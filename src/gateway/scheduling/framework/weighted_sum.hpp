// How a profile sums its scorers' weighted scores into each candidate's total, shared by the
// profile (SchedulingProfile::run) and the scorers that add their scores in the same pass as
// they compute them (Scorer::add_scores), so that both sums are the same, bit for bit.
//
// Thread-safety: pure functions.
#pragma once

#include <cstddef>
#include <span>

namespace infergate::gateway::scheduling {

// A score clamped to [0, 1]; NaN counts as 0. Written as two selects so that a loop over it
// compiles to vector min/max.
inline double clamp_score(double v) {
  v = v > 0.0 ? v : 0.0;
  return v < 1.0 ? v : 1.0;
}

// totals[i] = from[i] + weight x score_of(i) for every i. `from` may be the totals themselves;
// null: zeros (0.0 + the weighted score, as a sum started at zero has it).
template <typename ScoreOf>
[[gnu::always_inline]] inline void add_weighted(const double* from, double weight,
                                                std::span<double> totals, ScoreOf score_of) {
  double* const out = totals.data();
  const std::size_t n = totals.size();
  if (from == nullptr) {
    for (std::size_t i = 0; i < n; ++i) out[i] = 0.0 + weight * score_of(i);
  } else {
    for (std::size_t i = 0; i < n; ++i) out[i] = from[i] + weight * score_of(i);
  }
}

// The same for scores already written: clamped, unless they are `bounded` (Scorer::bounded:
// the clamp's compares and selects cost more than the sum).
inline void add_weighted(const double* from, std::span<const double> scores, double weight,
                         bool bounded, std::span<double> totals) {
  const double* const in = scores.data();
  if (bounded) {
    add_weighted(from, weight, totals, [in](std::size_t i) { return in[i]; });
  } else {
    add_weighted(from, weight, totals, [in](std::size_t i) { return clamp_score(in[i]); });
  }
}

}  // namespace infergate::gateway::scheduling

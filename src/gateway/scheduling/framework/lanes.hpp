// Passes over a column of doubles (a score or signal per candidate) four at a time, as two
// pairs of lanes: one SSE2 register each on any x86-64, written with the GCC and Clang vector
// extensions so that they do not depend on the compiler vectorising the loop (in this build
// GCC 12 compiled the scorers' and the picker's loops to scalar compares). Each pair runs its
// own chain of compares.
//
// Compares follow the scalar forms lane by lane (`x < lo ? x : lo` and so on), so a NaN signal
// is passed over as before.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace infergate::gateway::scheduling::lanes {

using Pair = double __attribute__((vector_size(16)));
using PairMask = std::int64_t __attribute__((vector_size(16)));

[[gnu::always_inline]] inline Pair load(const double* p) {
  Pair v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
[[gnu::always_inline]] inline Pair splat(double x) { return Pair{x, x}; }
[[gnu::always_inline]] inline Pair lower(Pair a, Pair b) { return a < b ? a : b; }
[[gnu::always_inline]] inline Pair higher(Pair a, Pair b) { return a > b ? a : b; }

struct Range {
  double lo;
  double hi;
};

// The smallest and largest of x[0..n), n > 0.
inline Range range_of(const double* x, std::size_t n) {
  Pair lo0 = splat(x[0]), lo1 = lo0, hi0 = lo0, hi1 = lo0;
  std::size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    const Pair a = load(x + i), b = load(x + i + 2);
    lo0 = lower(a, lo0);
    lo1 = lower(b, lo1);
    hi0 = higher(a, hi0);
    hi1 = higher(b, hi1);
  }
  lo0 = lower(lo1, lo0);
  hi0 = higher(hi1, hi0);
  Range r{lo0[1] < lo0[0] ? lo0[1] : lo0[0], hi0[1] > hi0[0] ? hi0[1] : hi0[0]};
  for (; i < n; ++i) {
    r.lo = x[i] < r.lo ? x[i] : r.lo;
    r.hi = x[i] > r.hi ? x[i] : r.hi;
  }
  return r;
}

// The largest of x[0..n), n > 0.
inline double highest(const double* x, std::size_t n) {
  Pair hi0 = splat(x[0]), hi1 = hi0;
  std::size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    hi0 = higher(load(x + i), hi0);
    hi1 = higher(load(x + i + 2), hi1);
  }
  hi0 = higher(hi1, hi0);
  double hi = hi0[1] > hi0[0] ? hi0[1] : hi0[0];
  for (; i < n; ++i) hi = x[i] > hi ? x[i] : hi;
  return hi;
}

// How many of x[0..n) equal v.
inline std::size_t count_equal(const double* x, std::size_t n, double v) {
  const Pair want = splat(v);
  PairMask seen0{0, 0}, seen1{0, 0};  // minus the count: a true compare is all ones (-1)
  std::size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    seen0 += load(x + i) == want;
    seen1 += load(x + i + 2) == want;
  }
  seen0 += seen1;
  auto count = static_cast<std::size_t>(-(seen0[0] + seen0[1]));
  for (; i < n; ++i) count += x[i] == v ? 1 : 0;
  return count;
}

// The index of the value equal to v that has `k` such values before it, or n when there are
// not that many.
inline std::size_t nth_equal(const double* x, std::size_t n, double v, std::size_t k) {
  const Pair want = splat(v);
  std::size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    const PairMask a = load(x + i) == want, b = load(x + i + 2) == want;
    if ((a[0] | a[1] | b[0] | b[1]) == 0) continue;  // the usual four
    const bool equal[4] = {a[0] != 0, a[1] != 0, b[0] != 0, b[1] != 0};
    for (std::size_t j = 0; j < 4; ++j) {
      if (equal[j] && k-- == 0) return i + j;
    }
  }
  for (; i < n; ++i) {
    if (x[i] == v && k-- == 0) return i;
  }
  return n;
}

}  // namespace infergate::gateway::scheduling::lanes

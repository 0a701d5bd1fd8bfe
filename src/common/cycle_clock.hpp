// A cheap clock for timing short spans of a hot path (a scheduling decision and its plugin
// calls, flow control's enqueue): the CPU's time-stamp counter on x86-64 CPUs whose counter
// runs at a constant rate (CPUID's invariant-TSC bit; read in about 10 ns, against 25 to 40 ns
// for steady_clock through the vDSO on the development VM), steady_clock's nanoseconds
// elsewhere. Durations only: ticks mean nothing across machines or processes, and nothing
// waits on them (deadlines take a Clock, see clock.hpp).
//
// Ticks become nanoseconds at a rate measured against steady_clock since the process started
// (each end of the measure a steady_clock read bracketed by two counter reads, the tightest of
// three). Until a measure over at least a second with a tight bracket settles it, each
// conversion measures it again.
//
// Thread-safety: every function may be called from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <limits>

#if defined(__x86_64__)
#include <cpuid.h>
#include <x86intrin.h>
#endif

namespace infergate {

class CycleClock {
 public:
  using Ticks = std::uint64_t;

  static Ticks now() noexcept {
#if defined(__x86_64__)
    if (tsc_constant_) return __rdtsc();
#endif
    return steady_ns();
  }

  // Nanoseconds from `from` to `to` (two now()s, read on any threads); 0 when `to` is earlier.
  static std::int64_t ns_between(Ticks from, Ticks to) noexcept {
    if (to <= from) return 0;
    const double ns = static_cast<double>(to - from) * ns_per_tick();
    constexpr double kMax = 0.5 * static_cast<double>(std::numeric_limits<std::int64_t>::max());
    return ns >= kMax ? static_cast<std::int64_t>(kMax) : static_cast<std::int64_t>(ns);
  }

  // The rate: nanoseconds per tick.
  static double ns_per_tick() noexcept {
    if (!tsc_constant_) return 1.0;  // now() counts steady_clock's nanoseconds
    const double settled = settled_rate_.load(std::memory_order_relaxed);
    if (settled > 0) return settled;
    // The process's first instants, or a call during static initialisation (before the origin).
    const Pair at = paired_read();
    if (origin_.ticks == 0 || at.ticks <= origin_.ticks || at.steady_ns <= origin_.steady_ns)
      return 1.0;
    const double ns = static_cast<double>(at.steady_ns - origin_.steady_ns);
    const double rate = ns / static_cast<double>(at.ticks - origin_.ticks);
    // Settled once the brackets' width is at most 1e-4 of the span they measure.
    const double bracket_ns = static_cast<double>(at.bracket + origin_.bracket) * rate;
    if (ns >= kSettleAfterNs && bracket_ns * 1e4 <= ns)
      settled_rate_.store(rate, std::memory_order_relaxed);
    return rate;
  }

 private:
  static constexpr double kSettleAfterNs = 1e9;

  static Ticks steady_ns() noexcept {
    return static_cast<Ticks>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                  std::chrono::steady_clock::now().time_since_epoch())
                                  .count());
  }

  static bool detect_constant_tsc() noexcept {
#if defined(__x86_64__)
    unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
    if (__get_cpuid(0x80000007u, &eax, &ebx, &ecx, &edx) == 0) return false;
    return (edx & (1u << 8)) != 0;  // invariant TSC
#else
    return false;
#endif
  }

  // A steady_clock read and the counter at that moment (the middle of the two reads around it),
  // the tightest of three tries; `bracket` is the two counter reads' distance.
  struct Pair {
    std::uint64_t steady_ns = 0;
    Ticks ticks = 0;
    Ticks bracket = 0;
  };
  static Pair paired_read() noexcept {
    Pair best;
#if defined(__x86_64__)
    for (int i = 0; i < 3; ++i) {
      const Ticks before = __rdtsc();
      const std::uint64_t steady = steady_ns();
      const Ticks after = __rdtsc();
      if (after < before) continue;
      if (best.ticks == 0 || after - before < best.bracket)
        best = {steady, before + (after - before) / 2, after - before};
    }
#endif
    return best;
  }

  static inline const bool tsc_constant_ = detect_constant_tsc();
  // Read when the process starts (static initialisation), so that by the first decision the
  // rate is usually measured over tens of milliseconds already.
  static inline const Pair origin_ = paired_read();
  static inline std::atomic<double> settled_rate_{0.0};
};

}  // namespace infergate

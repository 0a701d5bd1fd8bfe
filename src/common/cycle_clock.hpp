// A cheap clock for timing short spans of a hot path (a scheduling decision and its plugin
// calls): the CPU's time-stamp counter on x86-64 (constant-rate on every CPU the gateway runs
// on; read in about 10 ns, against 25 to 40 ns for steady_clock through the vDSO on the
// development VM), steady_clock elsewhere. Durations only: ticks mean nothing across machines
// or processes, and nothing waits on them (deadlines take a Clock, see clock.hpp).
//
// Ticks become nanoseconds at a rate measured against steady_clock since the process started,
// settled once 50 ms of it have passed (before that, each conversion measures it again).
//
// Thread-safety: every function may be called from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

#if defined(__x86_64__)
#include <x86intrin.h>
#endif

namespace infergate {

class CycleClock {
 public:
  using Ticks = std::uint64_t;

  static Ticks now() noexcept {
#if defined(__x86_64__)
    return __rdtsc();
#else
    return static_cast<Ticks>(std::chrono::steady_clock::now().time_since_epoch().count());
#endif
  }

  // Nanoseconds from `from` to `to` (two now()s, read on any threads); 0 when `to` is earlier.
  static std::int64_t ns_between(Ticks from, Ticks to) noexcept {
    if (to <= from) return 0;
    return static_cast<std::int64_t>(static_cast<double>(to - from) * ns_per_tick());
  }

  // The rate: nanoseconds per tick.
  static double ns_per_tick() noexcept {
#if defined(__x86_64__)
    const double settled = settled_rate_.load(std::memory_order_relaxed);
    if (settled > 0) return settled;
    const auto steady = std::chrono::steady_clock::now();
    const Ticks ticks = now();
    const double ns = std::chrono::duration<double, std::nano>(steady - origin_.steady).count();
    // The process's first instants (or a call during static initialisation, before the origin).
    if (origin_.ticks == 0 || ticks <= origin_.ticks || ns <= 0) return 1.0;
    const double rate = ns / static_cast<double>(ticks - origin_.ticks);
    if (ns >= kSettleAfterNs) settled_rate_.store(rate, std::memory_order_relaxed);
    return rate;
#else
    return 1.0;  // now() counts steady_clock's nanoseconds
#endif
  }

 private:
  static constexpr double kSettleAfterNs = 50e6;
  struct Origin {
    std::chrono::steady_clock::time_point steady;
    Ticks ticks = 0;
  };
  // Read when the process starts (static initialisation), so that by the first decision the
  // rate is usually measured over tens of milliseconds already.
  static inline const Origin origin_{std::chrono::steady_clock::now(), now()};
  static inline std::atomic<double> settled_rate_{0.0};
};

}  // namespace infergate

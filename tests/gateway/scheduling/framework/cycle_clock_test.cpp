// The cycle clock that times decisions: durations never negative, and its ticks converted at
// the rate of steady_clock (loosely: both clocks read around the same 20 ms of spinning).
#include "common/cycle_clock.hpp"

#include <gtest/gtest.h>

namespace infergate {
namespace {

TEST(CycleClock, ADurationIsNeverNegative) {
  const CycleClock::Ticks t = CycleClock::now();
  EXPECT_EQ(CycleClock::ns_between(t, t), 0);
  EXPECT_EQ(CycleClock::ns_between(t + 1000, t), 0);
  EXPECT_GE(CycleClock::ns_between(t, CycleClock::now()), 0);
  EXPECT_GT(CycleClock::ns_per_tick(), 0.0);
  // The longest span converts without overflow.
  EXPECT_GT(CycleClock::ns_between(0, ~CycleClock::Ticks{0}), 0);
}

TEST(CycleClock, ItsNanosecondsAreSteadyClocks) {
  const auto steady_from = std::chrono::steady_clock::now();
  const CycleClock::Ticks from = CycleClock::now();
  auto steady_to = steady_from;
  while (steady_to - steady_from < std::chrono::milliseconds(20))
    steady_to = std::chrono::steady_clock::now();
  const CycleClock::Ticks to = CycleClock::now();
  const double steady_ns =
      std::chrono::duration<double, std::nano>(steady_to - steady_from).count();
  const double cycle_ns = static_cast<double>(CycleClock::ns_between(from, to));
  EXPECT_GT(cycle_ns, 0.5 * steady_ns);
  EXPECT_LT(cycle_ns, 2.0 * steady_ns);
}

}  // namespace
}  // namespace infergate

// The column passes of lanes.hpp against plain loops: the extreme or the equal values in each
// of the four lanes and in the tail, columns of one to eleven values, and NaN passed over as the
// scalar compares pass it over.
#include "gateway/scheduling/framework/lanes.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

namespace infergate::gateway::scheduling::lanes {
namespace {

TEST(Lanes, FindTheExtremesInEveryLaneAndInTheTail) {
  for (std::size_t n = 1; n <= 11; ++n) {
    for (std::size_t at = 0; at < n; ++at) {
      std::vector<double> x(n, 0.5);
      x[(at + 1) % n] = 0.1;  // the lowest in the next lane (the same value when n is 1)
      x[at] = 0.9;
      const Range r = range_of(x.data(), n);
      EXPECT_EQ(r.hi, 0.9) << n << " " << at;
      EXPECT_EQ(r.lo, n == 1 ? 0.9 : 0.1) << n << " " << at;
      EXPECT_EQ(highest(x.data(), n), 0.9) << n << " " << at;
    }
  }
}

TEST(Lanes, CountTheEqualValuesInEveryLaneAndInTheTail) {
  for (std::size_t n = 1; n <= 11; ++n) {
    for (std::size_t mask = 0; mask < (std::size_t{1} << n); mask += 1 + n / 4) {
      std::vector<double> x(n);
      std::size_t expected = 0;
      for (std::size_t i = 0; i < n; ++i) {
        const bool equal = (mask >> i) & 1;
        x[i] = equal ? 0.25 : 0.75 + static_cast<double>(i);
        expected += equal ? 1 : 0;
      }
      EXPECT_EQ(count_equal(x.data(), n, 0.25), expected) << n << " " << mask;
    }
  }
}

TEST(Lanes, FindTheNthEqualValueInEveryLaneAndInTheTail) {
  for (std::size_t n = 1; n <= 11; ++n) {
    for (std::size_t mask = 0; mask < (std::size_t{1} << n); mask += 1 + n / 4) {
      std::vector<double> x(n);
      std::vector<std::size_t> equal_at;
      for (std::size_t i = 0; i < n; ++i) {
        x[i] = (mask >> i) & 1 ? 0.25 : 0.5;
        if ((mask >> i) & 1) equal_at.push_back(i);
      }
      for (std::size_t k = 0; k <= equal_at.size(); ++k) {
        EXPECT_EQ(nth_equal(x.data(), n, 0.25, k), k < equal_at.size() ? equal_at[k] : n)
            << n << " " << mask << " " << k;
      }
    }
  }
}

TEST(Lanes, NanIsPassedOverUnlessItComesFirst) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  std::vector<double> x = {0.3, nan, 0.7, 0.2, nan, 0.9, 0.1, nan, 0.4};
  const Range r = range_of(x.data(), x.size());
  EXPECT_EQ(r.lo, 0.1);
  EXPECT_EQ(r.hi, 0.9);
  EXPECT_EQ(highest(x.data(), x.size()), 0.9);
  EXPECT_EQ(count_equal(x.data(), x.size(), nan), 0u);
  EXPECT_EQ(nth_equal(x.data(), x.size(), nan, 0), x.size());
  // A first NaN starts every lane, and no compare replaces it (max-score-picker then takes the
  // first candidate).
  x[0] = nan;
  EXPECT_TRUE(std::isnan(highest(x.data(), x.size())));
  EXPECT_TRUE(std::isnan(range_of(x.data(), x.size()).hi));
  EXPECT_TRUE(std::isnan(range_of(x.data(), x.size()).lo));
}

}  // namespace
}  // namespace infergate::gateway::scheduling::lanes

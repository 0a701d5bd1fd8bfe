// The one rule for whether an endpoint can take requests (picking, saturation, ready pods).
#include "gateway/datastore/availability.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>

namespace infergate::gateway {
namespace {

struct Pool {
  explicit Pool(std::size_t n) {
    for (std::size_t i = 0; i < n; ++i)
      state.endpoints.push_back(
          std::make_shared<Endpoint>(config::EndpointSpec{"ep" + std::to_string(i),
                                                          "127.0.0.1",
                                                          static_cast<std::uint16_t>(9000 + i),
                                                          static_cast<std::uint16_t>(9000 + i),
                                                          "vllm",
                                                          {}},
                                     static_cast<std::uint32_t>(i + 1)));
    state.publish_view();
  }
  Availability of(std::size_t i) const {
    return availability(state.view.load().get(), i, *state.endpoints[i], now);
  }
  void eject(std::size_t i, Duration for_how_long) {
    state.endpoints[i]->outlier.eject_until((now + for_how_long).count());
  }

  PoolState state;
  TimePoint now{std::chrono::seconds(10)};
};

TEST(Availability, HealthyAndNotEjectedIsUsable) {
  Pool p(2);
  EXPECT_EQ(p.of(0), Availability::kUsable);
  EXPECT_TRUE(usable_for_picking(p.state.view.load().get(), 1, *p.state.endpoints[1], p.now));
}

TEST(Availability, ScrapeHealthIsWhatThePublishedViewSays) {
  Pool p(2);
  // The scraper marks the endpoint down: picking sees it once the view is published, and so
  // does everything else that asks.
  p.state.endpoints[0]->scrape_healthy = false;
  EXPECT_EQ(p.of(0), Availability::kUsable);
  p.state.publish_view();
  EXPECT_EQ(p.of(0), Availability::kScrapeFailing);
  EXPECT_EQ(p.of(1), Availability::kUsable);
}

TEST(Availability, EjectedUntilItsDeadline) {
  Pool p(1);
  p.eject(0, std::chrono::seconds(5));
  EXPECT_EQ(p.of(0), Availability::kEjected);
  EXPECT_TRUE(ejected(*p.state.endpoints[0], p.now));
  p.now += std::chrono::seconds(5);
  EXPECT_EQ(p.of(0), Availability::kUsable) << "the deadline itself is back in picking";
  EXPECT_FALSE(ejected(*p.state.endpoints[0], p.now));
}

// Every ejection raises the process's latest ejection end, which only grows: while it is not
// after `now`, no endpoint is ejected (a decision then skips asking each one).
TEST(Availability, AnEjectionRaisesTheLatestEjectionEnd) {
  Pool p(2);
  const std::int64_t before = latest_ejection_end_ns().load();
  const TimePoint far{std::chrono::nanoseconds(std::max<std::int64_t>(before, 0)) +
                      std::chrono::hours(1)};
  p.now = far;
  EXPECT_FALSE(some_endpoint_may_be_ejected(p.now + std::chrono::hours(1)));
  p.eject(0, std::chrono::seconds(5));
  EXPECT_EQ(latest_ejection_end_ns().load(), (far + std::chrono::seconds(5)).count());
  EXPECT_TRUE(some_endpoint_may_be_ejected(p.now));
  EXPECT_TRUE(some_endpoint_may_be_ejected(p.now + std::chrono::seconds(4)));
  EXPECT_FALSE(some_endpoint_may_be_ejected(p.now + std::chrono::seconds(5)));
  p.now -= std::chrono::seconds(1);
  p.eject(1, std::chrono::seconds(2));  // ends earlier: the latest end stays
  EXPECT_EQ(latest_ejection_end_ns().load(), (far + std::chrono::seconds(5)).count());
}

TEST(Availability, AFailingScrapeIsReportedBeforeAnEjection) {
  Pool p(1);
  p.eject(0, std::chrono::seconds(5));
  p.state.endpoints[0]->scrape_healthy = false;
  p.state.publish_view();
  EXPECT_EQ(p.of(0), Availability::kScrapeFailing);
}

TEST(Availability, NoViewOrAnEndpointTheViewDoesNotCoverCountsAsHealthy) {
  Pool p(1);
  p.state.endpoints[0]->scrape_healthy = false;
  EXPECT_EQ(availability(nullptr, 0, *p.state.endpoints[0], p.now), Availability::kUsable);
  const PoolMetricsView empty;
  EXPECT_EQ(availability(&empty, 0, *p.state.endpoints[0], p.now), Availability::kUsable);
  p.eject(0, std::chrono::seconds(1));
  EXPECT_EQ(availability(nullptr, 0, *p.state.endpoints[0], p.now), Availability::kEjected);
}

}  // namespace
}  // namespace infergate::gateway

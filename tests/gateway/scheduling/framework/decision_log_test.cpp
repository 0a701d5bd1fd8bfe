// The decision log: off until watched and again after the watch window, a ring of the last
// decisions, and the profile scheduler's explanation of each decision while watched.
#include "gateway/scheduling/framework/decision_log.hpp"

#include <gtest/gtest.h>

#include "config/config.hpp"
#include "gateway/scheduling/framework/build.hpp"
#include "gateway/scheduling/framework/named_profiles.hpp"
#include "pool_fixture.hpp"

namespace infergate::gateway::scheduling {
namespace {

using namespace std::chrono_literals;

TEST(DecisionLog, RecordsOnlyWithinTheWatchWindow) {
  ManualClock clock(10s);
  DecisionLog log(clock, 30s);
  EXPECT_FALSE(log.recording(clock.now()));  // nobody has looked
  log.watch();
  EXPECT_TRUE(log.recording(clock.now()));
  clock.advance(29s);
  EXPECT_TRUE(log.recording(clock.now()));
  clock.advance(1s);
  EXPECT_FALSE(log.recording(clock.now()));
  log.watch();  // looked again: another window
  EXPECT_TRUE(log.recording(clock.now() + 29s));
}

TEST(DecisionLog, KeepsTheLastDecisionsNewestFirst) {
  ManualClock clock;
  DecisionLog log(clock);
  EXPECT_TRUE(log.recent().empty());
  for (int i = 0; i < 3; ++i) log.record({.pool = "p" + std::to_string(i)});
  auto few = log.recent();
  ASSERT_EQ(few.size(), 3u);
  EXPECT_EQ(few[0].seq, 3u);
  EXPECT_EQ(few[0].pool, "p2");
  EXPECT_EQ(few[2].seq, 1u);

  const std::size_t n = DecisionLog::kCapacity + 5;
  for (std::size_t i = 3; i < n; ++i) log.record({.pool = "p" + std::to_string(i)});
  const auto all = log.recent();
  ASSERT_EQ(all.size(), DecisionLog::kCapacity);
  for (std::size_t k = 0; k < all.size(); ++k) {
    EXPECT_EQ(all[k].seq, n - k);
    EXPECT_EQ(all[k].pool, "p" + std::to_string(n - 1 - k));
  }
}

std::shared_ptr<ProfileScheduler> gie_default(const SchedulerOptions& options) {
  config::Config cfg;
  cfg.picker = *named_profile("gie-default");
  cfg.pools.emplace_back();
  config::Diagnostics diag;
  auto profile = build_pool_profile(cfg, 0, options, diag);
  EXPECT_TRUE(profile) << diag.error_text();
  return std::make_shared<ProfileScheduler>(profile, options);
}

TEST(DecisionLog, ExplainsEachDecisionWhileWatched) {
  testing::TestPool tp(3);
  tp.set(0, {.waiting = 8, .kv = 0.7});
  tp.set(1, {.waiting = 0, .kv = 0.1});
  tp.set(2, {.waiting = 3, .kv = 0.4});
  tp.pool.key = "default/llama";
  SchedulerOptions options;
  options.decisions = std::make_shared<DecisionLog>(tp.clock);
  auto scheduler = gie_default(options);
  const auto pick = [&] {
    SchedulingRequest request{"llama-7b", "a prompt", 0};
    auto session = scheduler->begin(tp.pool, request, {tp.random, tp.clock});
    const auto picked = session->pick({});
    EXPECT_TRUE(picked.endpoint) << picked.failure.message;
    return picked.endpoint;
  };

  pick();
  EXPECT_TRUE(options.decisions->recent().empty());  // not watched: nothing recorded

  options.decisions->watch();
  const auto chosen = pick();
  const auto log = options.decisions->recent();
  ASSERT_EQ(log.size(), 1u);
  const Decision& d = log[0];
  EXPECT_EQ(d.pool, "default/llama");
  EXPECT_EQ(d.target_model, "llama-7b");
  EXPECT_EQ(d.profile, scheduler->profile().name());
  EXPECT_EQ(d.picker, "max-score-picker");
  EXPECT_EQ(d.endpoints, 3u);
  EXPECT_EQ(d.candidates, 3u);
  EXPECT_EQ(d.at, tp.clock.now());
  EXPECT_EQ(d.chosen.endpoint, chosen->spec.name);
  EXPECT_EQ(d.chosen.endpoint, "ep1");
  EXPECT_EQ(d.chosen.address, chosen->address);
  ASSERT_EQ(d.runners_up.size(), 2u);
  EXPECT_EQ(d.runners_up[0].endpoint, "ep2");  // less loaded than ep0
  EXPECT_EQ(d.runners_up[1].endpoint, "ep0");
  EXPECT_GE(d.chosen.total, d.runners_up[0].total);
  EXPECT_GE(d.runners_up[0].total, d.runners_up[1].total);
  for (const ScoredEndpoint* e : {&d.chosen, &d.runners_up[0], &d.runners_up[1]}) {
    ASSERT_EQ(e->shares.size(), 3u);  // queue, KV cache, prefix
    double sum = 0;
    for (const auto& s : e->shares) {
      EXPECT_GE(s.weighted, 0);
      EXPECT_LE(s.weighted, s.weight);
      sum += s.weighted;
    }
    EXPECT_DOUBLE_EQ(sum, e->total);
  }
  EXPECT_EQ(d.chosen.shares[0].scorer, "queue-scorer");
  EXPECT_EQ(d.chosen.shares[0].weight, 2);

  tp.clock.advance(31s);  // nobody looked again
  tp.set(0, {});
  tp.set(1, {});
  tp.set(2, {});
  pick();
  EXPECT_EQ(options.decisions->recent().size(), 1u);
}

}  // namespace
}  // namespace infergate::gateway::scheduling

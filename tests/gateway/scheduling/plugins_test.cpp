// Table-driven tests of each built-in plugin, through the registry that builds them from
// configuration, and statistical tests of the random pickers.
#include <gtest/gtest.h>

#include <map>

#include "gateway/scheduling/framework/registry.hpp"
#include "pool_fixture.hpp"

namespace infergate::gateway::scheduling {
namespace {

using testing::EndpointLoad;
using testing::TestPool;

template <typename P>
std::shared_ptr<P> make(const std::string& type, std::map<std::string, std::string> params = {}) {
  config::PluginSpec spec;
  spec.type = spec.name = type;
  spec.path = "plugins[0]";
  spec.parameters.is_map = true;
  for (auto& [k, v] : params) {
    config::PluginParameter p;
    p.key = k;
    p.value = v;
    p.path = "plugins[0].parameters." + k;
    spec.parameters.fields.push_back(p);
  }
  config::Diagnostics diag;
  auto plugin = builtin_plugins().create(spec, diag, [](std::string_view) { return nullptr; });
  EXPECT_TRUE(diag.ok()) << diag.error_text();
  auto typed = std::dynamic_pointer_cast<P>(plugin);
  EXPECT_TRUE(typed) << type;
  return typed;
}

// Candidates built the way the scheduler builds them, for direct plugin calls.
struct Decision {
  Decision(TestPool& p, std::string model = "base", std::string prompt = "") : tp(p) {
    request.target_model = std::move(model);
    prompt_text = std::move(prompt);
    request.prompt = prompt_text;
    state.emplace(request, tp.pool, tp.random, tp.clock.now());
    const auto view = tp.pool.view.load();
    for (std::size_t i = 0; i < tp.pool.endpoints.size(); ++i) {
      Candidate c;
      c.endpoint = tp.pool.endpoints[i].get();
      c.slot = i;
      c.in_flight = c.endpoint->in_flight.load();
      c.in_flight_tokens = c.endpoint->in_flight_tokens.load();
      if (const auto* s = view->samples[i].get()) {
        c.sample = s;
        c.waiting = s->metrics.waiting;
        c.running = s->metrics.running;
        c.kv_usage = s->metrics.kv_usage.value_or(0);
        if (s->metrics.lora) c.lora = &*s->metrics.lora;
      }
      candidates.push_back(c);
    }
    for (auto& c : candidates) pointers.push_back(&c);
  }
  std::vector<double> score(Scorer& s) {
    std::vector<double> out(pointers.size());
    s.score(*state, pointers, out);
    return out;
  }
  std::vector<std::size_t> filter(Filter& f) {
    std::vector<Candidate*> kept = pointers;
    f.filter(*state, kept);
    std::vector<std::size_t> slots;
    for (auto* c : kept) slots.push_back(c->slot);
    return slots;
  }

  TestPool& tp;
  SchedulingRequest request;
  std::string prompt_text;
  std::optional<CycleState> state;
  std::vector<Candidate> candidates;
  std::vector<Candidate*> pointers;
};

TEST(Scorers, QueueScorerNormalisesBetweenShortestAndLongest) {
  TestPool tp(3);
  tp.set(0, {.waiting = 0});
  tp.set(1, {.waiting = 5});
  tp.set(2, {.waiting = 10});
  Decision d(tp);
  EXPECT_EQ(d.score(*make<Scorer>("queue-scorer")), (std::vector<double>{1.0, 0.5, 0.0}));
  tp.set(1, {.waiting = 0});
  tp.set(2, {.waiting = 0});
  Decision equal(tp);
  EXPECT_EQ(equal.score(*make<Scorer>("queue-scorer")), (std::vector<double>{1.0, 1.0, 1.0}));
}

TEST(Scorers, KvCacheScorerIsOneMinusUse) {
  TestPool tp(2);
  tp.set(0, {.kv = 0.25});
  tp.set(1, {.kv = 0.9});
  Decision d(tp);
  const auto s = d.score(*make<Scorer>("kv-cache-utilization-scorer"));
  EXPECT_DOUBLE_EQ(s[0], 0.75);
  EXPECT_NEAR(s[1], 0.1, 1e-12);
  EXPECT_EQ(d.score(*make<Scorer>("kv-cache-scorer")), s);  // the older name
}

TEST(Scorers, LoraAffinityScoresRunningFreeSlotWaitingFull) {
  TestPool tp(4);
  tp.set(0, {.running_adapters = {"sql-lora"}, .max_lora = 2});
  tp.set(1, {.running_adapters = {"other"}, .max_lora = 2});  // free slot
  tp.set(2, {.running_adapters = {"a"},
             .waiting_adapters = {"sql-lora"},
             .max_lora = 2});                                  // waiting, full
  tp.set(3, {.running_adapters = {"a", "b"}, .max_lora = 2});  // full
  Decision d(tp, "sql-lora");
  EXPECT_EQ(d.score(*make<Scorer>("lora-affinity-scorer")),
            (std::vector<double>{1.0, 0.8, 0.6, 0.0}));
}

TEST(Scorers, RunningRequestsAndTokenLoadUseTheGatewaysOwnCounters) {
  TestPool tp(3);
  tp.pool.endpoints[0]->in_flight = 4;
  tp.pool.endpoints[1]->in_flight = 2;
  tp.pool.endpoints[2]->in_flight = 0;
  tp.pool.endpoints[0]->in_flight_tokens = 4194304;
  tp.pool.endpoints[1]->in_flight_tokens = 1048576;
  Decision d(tp);
  EXPECT_EQ(d.score(*make<Scorer>("running-requests-scorer")),
            (std::vector<double>{0.0, 0.5, 1.0}));
  EXPECT_EQ(d.score(*make<Scorer>("token-load-scorer")), (std::vector<double>{0.0, 0.75, 1.0}));
  EXPECT_EQ(d.score(*make<Scorer>("token-load-scorer", {{"maxTokens", "2097152"}})),
            (std::vector<double>{0.0, 0.5, 1.0}));
}

TEST(Scorers, PrefixScorerIsTheShareOfLeadingBlocksCachedOnTheEndpoint) {
  TestPool tp(3);
  const std::string prompt(64 * 10, 'x');  // 10 blocks
  std::vector<std::uint64_t> blocks;
  prefix::hash_prompt_blocks("m", prompt, {}, blocks);
  ASSERT_EQ(blocks.size(), 10u);
  tp.pool.prefix_index->record(1, blocks);  // ep0: all 10
  tp.pool.prefix_index->record(
      2, std::span<const std::uint64_t>(blocks).first(4));  // ep1: the first 4
  Decision d(tp, "m", prompt);
  const auto s = d.score(*make<Scorer>("prefix-cache-scorer"));
  EXPECT_DOUBLE_EQ(s[0], 1.0);
  EXPECT_DOUBLE_EQ(s[1], 0.4);
  EXPECT_DOUBLE_EQ(s[2], 0.0);
  // Another target model hashes differently: no match.
  Decision other(tp, "other-model", prompt);
  EXPECT_EQ(other.score(*make<Scorer>("prefix-cache-scorer")), (std::vector<double>{0, 0, 0}));
}

TEST(Filters, LowQueueLeastQueueLeastKv) {
  TestPool tp(4);
  tp.set(0, {.waiting = 0, .kv = 0.9});
  tp.set(1, {.waiting = 3, .kv = 0.1});
  tp.set(2, {.waiting = 200, .kv = 0.2});
  tp.set(3, {.waiting = 40, .kv = 0.5});
  Decision d(tp);
  EXPECT_EQ(d.filter(*make<Filter>("low-queue-filter")), (std::vector<std::size_t>{0, 1, 3}));
  EXPECT_EQ(d.filter(*make<Filter>("low-queue-filter", {{"threshold", "10"}})),
            (std::vector<std::size_t>{0, 1}));
  // Band [0, 0 + 200/4 = 50]: 0, 1, 3.
  EXPECT_EQ(d.filter(*make<Filter>("least-queue-filter")), (std::vector<std::size_t>{0, 1, 3}));
  // Band [0.1, 0.1 + 0.8/4 = 0.3]: 1, 2.
  EXPECT_EQ(d.filter(*make<Filter>("least-kv-cache-filter")), (std::vector<std::size_t>{1, 2}));
}

TEST(Filters, LoraAffinityPrefersLoadedThenFreeSlots) {
  TestPool tp(3);
  tp.set(0, {.running_adapters = {"x"}, .max_lora = 1});    // full, no adapter
  tp.set(1, {.running_adapters = {"sql"}, .max_lora = 1});  // has it
  tp.set(2, {.running_adapters = {}, .max_lora = 1});       // free slot
  Decision d(tp, "sql");
  EXPECT_EQ(d.filter(*make<Filter>("lora-affinity-filter", {{"threshold", "1"}})),
            (std::vector<std::size_t>{1}));
  EXPECT_EQ(d.filter(*make<Filter>("lora-affinity-filter", {{"threshold", "0"}})),
            (std::vector<std::size_t>{2}));
  Decision nobody(tp, "new-adapter");
  EXPECT_EQ(nobody.filter(*make<Filter>("lora-affinity-filter")), (std::vector<std::size_t>{2}));
}

// --- pickers: statistical tests, 100k picks, fixed seed ----------------------------------

std::vector<int> pick_counts(Picker& picker, TestPool& tp, const std::vector<double>& totals,
                             int n) {
  Decision d(tp);
  std::vector<int> counts(tp.pool.endpoints.size());
  for (int i = 0; i < n; ++i) ++counts[picker.pick(*d.state, d.pointers, totals)->slot];
  return counts;
}

TEST(Pickers, MaxScorePicksTheBestAndBreaksTiesUniformly) {
  TestPool tp(4);
  auto picker = make<Picker>("max-score-picker");
  EXPECT_EQ(pick_counts(*picker, tp, {0.1, 0.9, 0.3, 0.2}, 1000),
            (std::vector<int>{0, 1000, 0, 0}));
  const int n = 100000;
  const auto c = pick_counts(*picker, tp, {0.5, 0.9, 0.9, 0.9}, n);
  EXPECT_EQ(c[0], 0);
  for (int i = 1; i < 4; ++i)
    EXPECT_NEAR(c[static_cast<std::size_t>(i)] / double(n), 1.0 / 3, 0.01);
}

TEST(Pickers, RandomIsUniform) {
  TestPool tp(5);
  const int n = 100000;
  const auto c = pick_counts(*make<Picker>("random-picker"), tp, {1, 0, 0, 0, 0}, n);
  for (int x : c) EXPECT_NEAR(x / double(n), 0.2, 0.01);
}

TEST(Pickers, WeightedRandomIsProportionalToScore) {
  TestPool tp(4);
  const int n = 100000;
  const auto c = pick_counts(*make<Picker>("weighted-random-picker"), tp, {1, 2, 3, 4}, n);
  for (std::size_t i = 0; i < 4; ++i) EXPECT_NEAR(c[i] / double(n), (i + 1) / 10.0, 0.01);
  const auto zero = pick_counts(*make<Picker>("weighted-random-picker"), tp, {0, 0, 0, 0}, n);
  for (int x : zero) EXPECT_NEAR(x / double(n), 0.25, 0.01);
}

TEST(Pickers, RoundRobinTakesEachInTurn) {
  TestPool tp(3);
  EXPECT_EQ(pick_counts(*make<Picker>("round-robin-picker"), tp, {0, 0, 0}, 300),
            (std::vector<int>{100, 100, 100}));
}

TEST(Pickers, CacheAwareFollowsThePrefixUnlessLoadIsImbalanced) {
  TestPool tp(3);
  const std::string prompt(64 * 8, 'p');
  std::vector<std::uint64_t> blocks;
  prefix::hash_prompt_blocks("m", prompt, {}, blocks);
  tp.pool.prefix_index->record(3, blocks);  // ep2 holds the prompt
  tp.pool.endpoints[0]->in_flight = 1;
  tp.pool.endpoints[1]->in_flight = 0;
  tp.pool.endpoints[2]->in_flight = 10;
  auto picker = make<Picker>("cache-aware-picker");
  {
    Decision d(tp, "m", prompt);
    EXPECT_EQ(picker->pick(*d.state, d.pointers, std::vector<double>(3))->slot, 2u);
  }
  tp.pool.endpoints[2]->in_flight = 100;  // 100 - 0 > 64 and 100 > 1.5 x 0: imbalanced
  {
    Decision d(tp, "m", prompt);
    EXPECT_EQ(picker->pick(*d.state, d.pointers, std::vector<double>(3))->slot, 1u);
  }
  {
    Decision d(tp, "m", std::string(64 * 8, 'q'));  // nothing cached: least loaded
    tp.pool.endpoints[2]->in_flight = 10;
    EXPECT_EQ(picker->pick(*d.state, d.pointers, std::vector<double>(3))->slot, 1u);
  }
}

TEST(Registry, UnknownTypesAndParametersAreErrorsWithTheirLocation) {
  config::PluginSpec spec;
  spec.type = spec.name = "no-such-scorer";
  spec.path = "plugins[3]";
  spec.where = {"f.yaml", 7, 3};
  config::Diagnostics diag;
  EXPECT_FALSE(builtin_plugins().create(spec, diag, {}));
  ASSERT_EQ(diag.errors.size(), 1u);
  EXPECT_NE(diag.errors[0].to_string().find(
                "f.yaml:7:3: plugins[3].type: unknown plugin type 'no-such-scorer'"),
            std::string::npos)
      << diag.errors[0].to_string();

  spec.type = "low-queue-filter";
  config::PluginParameter bad;
  bad.value = "lots";
  bad.path = "plugins[3].parameters.threshold";
  bad.where = {"f.yaml", 9, 18};
  spec.parameters.is_map = true;
  spec.parameters.fields = {bad, bad};
  spec.parameters.fields[0].key = "threshold";
  spec.parameters.fields[1].key = "treshold";
  spec.parameters.fields[1].path = "plugins[3].parameters.treshold";
  config::Diagnostics diag2;
  EXPECT_FALSE(builtin_plugins().create(spec, diag2, {}));
  ASSERT_EQ(diag2.errors.size(), 2u) << diag2.error_text();
  EXPECT_NE(
      diag2.error_text().find("f.yaml:9:18: plugins[3].parameters.threshold: must be a number"),
      std::string::npos);
  EXPECT_NE(diag2.error_text().find("plugins[3].parameters.treshold: unknown parameter"),
            std::string::npos);
}

}  // namespace
}  // namespace infergate::gateway::scheduling

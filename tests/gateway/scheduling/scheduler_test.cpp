// The profile scheduler as the request path uses it: candidates from the pool (health,
// ejection, staleness), profiles from configuration, prefix entries following retries; plus
// the scrape and outlier rules that feed it.
#include <gtest/gtest.h>

#include <filesystem>
#include <random>
#include <set>

#include "config/config.hpp"
#include "gateway/datastore/outlier_detector.hpp"
#include "gateway/scheduling/framework/build.hpp"
#include "gateway/scheduling/framework/named_profiles.hpp"
#include "gateway/scraper/scrape_result.hpp"
#include "plugins/plugin_fixture.hpp"
#include "pool_fixture.hpp"

namespace infergate::gateway::scheduling {
namespace {

using testing::LoadSpec;
using testing::TestPool;

std::shared_ptr<ProfileScheduler> named(const std::string& name,
                                        const SchedulerOptions& options = {},
                                        std::shared_ptr<prefix::PrefixIndex> index = nullptr) {
  auto epc = named_profile(name);
  EXPECT_TRUE(epc) << name;
  config::Config cfg;
  cfg.picker = *epc;
  cfg.pools.emplace_back();
  config::Diagnostics diag;
  auto profile = build_pool_profile(cfg, 0, options, diag);
  EXPECT_TRUE(profile) << diag.error_text();
  return std::make_shared<ProfileScheduler>(profile, options, std::move(index));
}

std::size_t pick_slot(Scheduler& s, TestPool& tp, const std::string& prompt = "",
                      const std::string& model = "m") {
  SchedulingRequest r{model, prompt, 0};
  auto session = s.begin(tp.pool, r, {tp.random, tp.clock});
  auto picked = session->pick({});
  EXPECT_TRUE(picked.endpoint) << picked.failure.message;
  if (picked.endpoint) session->dispatched(*picked.endpoint);
  return picked.endpoint ? tp.index_of(picked.endpoint.get()) : 99;
}

TEST(NamedProfiles, EveryOneBuilds) {
  for (const auto& name : named_profile_names()) named(name);
  EXPECT_EQ(named("gie-default")->profile().describe(),
            "queue-scorer*2 kv-cache-utilization-scorer*2 prefix-cache-scorer*3 max-score-picker");
  EXPECT_EQ(
      named("default")->profile().describe(),
      "queue-scorer*2 kv-cache-utilization-scorer*2 prefix-cache-scorer*3 lora-affinity-scorer*1 "
      "running-requests-scorer*1 max-score-picker");
}

TEST(ProfileScheduler, PicksTheLeastLoadedEndpoint) {
  TestPool tp(3);
  tp.set(0, {.waiting = 8, .kv = 0.7});
  tp.set(1, {.waiting = 0, .kv = 0.1});
  tp.set(2, {.waiting = 3, .kv = 0.4});
  auto s = named("gie-default");
  for (int i = 0; i < 20; ++i) EXPECT_EQ(pick_slot(*s, tp, "short"), 1u);
}

TEST(ProfileScheduler, StaleMetricsCountAsSaturated) {
  TestPool tp(2);
  tp.set(0, {.waiting = 10, .kv = 0.5});
  tp.clock.advance(std::chrono::milliseconds(300));  // ep0's sample is now stale
  tp.set(1, {.waiting = 50, .kv = 0.9});             // fresh but busy
  auto s = named("gie-default");
  EXPECT_EQ(pick_slot(*s, tp), 1u);
  // Without scraping nothing is stale: ep0 looks idle (no metrics).
  SchedulerOptions off;
  off.scraping = false;
  TestPool tp2(2);
  tp2.set(1, {.waiting = 50, .kv = 0.9});
  EXPECT_EQ(pick_slot(*named("gie-default", off), tp2), 0u);
}

TEST(ProfileScheduler, UnhealthyAndEjectedEndpointsAreNotCandidates) {
  TestPool tp(3);
  for (std::size_t i = 0; i < 3; ++i) tp.set(i, {});
  tp.pool.endpoints[0]->scrape_healthy = false;
  tp.pool.endpoints[1]->outlier.eject_until((tp.clock.now() + std::chrono::seconds(10)).count());
  tp.pool.publish_view();
  auto s = named("random");
  for (int i = 0; i < 50; ++i) EXPECT_EQ(pick_slot(*s, tp), 2u);
  tp.pool.endpoints[2]->scrape_healthy = false;
  tp.pool.publish_view();
  SchedulingRequest r{"m", "", 0};
  auto picked = s->begin(tp.pool, r, {tp.random, tp.clock})->pick({});
  EXPECT_FALSE(picked.endpoint);
  EXPECT_EQ(picked.failure.status, 503);
  EXPECT_NE(picked.failure.message.find("2 failing their metrics scrapes, 1 ejected"),
            std::string::npos)
      << picked.failure.message;
  tp.clock.advance(std::chrono::seconds(11));  // the ejection ends
  EXPECT_EQ(pick_slot(*s, tp), 1u);
}

// A pool whose every endpoint is healthy and freshly sampled has its candidates copied from the
// view's columns; any exclusion builds them endpoint by endpoint. Both must decide alike.
TEST(ProfileScheduler, CopiedAndBuiltCandidatesDecideAlike) {
  TestPool tp(11);
  auto s = named("default", {}, tp.prefix_index);
  Endpoint outsider({"outsider", "127.0.0.1", 9999, 9999, "vllm", {}}, 999);
  const Endpoint* nobody_in_the_pool[] = {&outsider};
  std::mt19937_64 rng(3);
  const std::string prompt = std::string(640, 'p');
  std::vector<std::uint64_t> blocks;
  prefix::hash_prompt_blocks("m", prompt, {}, blocks);
  for (int trial = 0; trial < 40; ++trial) {
    for (std::size_t i = 0; i < 11; ++i) {
      tp.set(i, {.waiting = static_cast<double>(rng() % 4),
                 .kv = static_cast<double>(rng() % 3) / 2,
                 .running_adapters = {rng() % 2 ? "m" : "other"},
                 .max_lora = 1 + static_cast<int>(rng() % 2)});
      tp.pool.endpoints[i]->in_flight = static_cast<int>(rng() % 3);
    }
    if (trial % 4 == 0) tp.prefix_index->record(tp.pool.endpoints[rng() % 11]->id, blocks);
    SchedulingRequest r{"m", prompt, 0};
    Mt19937Random copied_random(static_cast<std::uint64_t>(trial));
    Mt19937Random built_random(static_cast<std::uint64_t>(trial));
    Mt19937Random again_random(static_cast<std::uint64_t>(trial));
    // The first copied decision asks every scorer; the second reuses the view's kept scores.
    auto copied = s->begin(tp.pool, r, {copied_random, tp.clock})->pick({});
    auto again = s->begin(tp.pool, r, {again_random, tp.clock})->pick({});
    auto built = s->begin(tp.pool, r, {built_random, tp.clock})->pick(nobody_in_the_pool);
    // A view made from the samples alone does not list the endpoints: its candidates are built.
    std::vector<std::shared_ptr<const EndpointSample>> samples;
    for (const auto& ep : tp.pool.endpoints) samples.push_back(ep->latest.load());
    tp.pool.view.store(make_metrics_view(samples, std::vector<char>(samples.size(), 1)));
    Mt19937Random bare_random(static_cast<std::uint64_t>(trial));
    auto bare = s->begin(tp.pool, r, {bare_random, tp.clock})->pick({});
    ASSERT_TRUE(copied.endpoint && again.endpoint && built.endpoint && bare.endpoint);
    EXPECT_EQ(copied.endpoint, built.endpoint) << "trial " << trial;
    EXPECT_EQ(again.endpoint, built.endpoint) << "trial " << trial;
    EXPECT_EQ(bare.endpoint, built.endpoint) << "trial " << trial;
  }
}

// With every view fresh, an ejected endpoint still leaves the candidates (the copy notices it).
TEST(ProfileScheduler, AnEjectedEndpointAmongFreshOnesIsNotACandidate) {
  TestPool tp(3);
  for (std::size_t i = 0; i < 3; ++i) tp.set(i, {});
  tp.pool.endpoints[1]->outlier.eject_until((tp.clock.now() + std::chrono::seconds(10)).count());
  auto s = named("random");
  std::set<std::size_t> picked;
  for (int i = 0; i < 50; ++i) picked.insert(pick_slot(*s, tp));
  EXPECT_EQ(picked, (std::set<std::size_t>{0, 2}));
}

// A scorer that counts its calls, depending on what it is told to.
class CountingScorer final : public Scorer {
 public:
  explicit CountingScorer(ScoreDepends depends) : depends_(depends) {}
  ScoreDepends depends_on() const override { return depends_; }
  void score(CycleState&, Candidates& c, std::span<double> out) override {
    ++calls;
    for (std::size_t i = 0; i < c.size(); ++i) out[i] = 1.0 - c.kv_usage[i];
  }
  int calls = 0;

 private:
  ScoreDepends depends_;
};

TEST(ProfileScheduler, ScoresThatFollowFromTheMetricsAreAskedOncePerView) {
  auto metrics = std::make_shared<CountingScorer>(ScoreDepends::kMetrics);
  auto with_model = std::make_shared<CountingScorer>(ScoreDepends::kMetricsAndModel);
  auto decision = std::make_shared<CountingScorer>(ScoreDepends::kDecision);
  auto profile = std::make_shared<SchedulingProfile>("counting");
  for (const auto& s : {metrics, with_model, decision}) {
    s->type = s->name = "counting";
    profile->add_scorer(s, 1.0);
  }
  profile->set_picker(testing::make_plugin<Picker>("max-score-picker"));
  ProfileScheduler s(profile, {});
  TestPool tp(3);
  tp.set(0, {.kv = 0.5});
  tp.set(1, {.kv = 0.1});
  tp.set(2, {.kv = 0.9});
  const auto calls = [&] {
    return std::vector<int>{metrics->calls, with_model->calls, decision->calls};
  };
  for (int i = 0; i < 3; ++i) EXPECT_EQ(pick_slot(s, tp), 1u);
  EXPECT_EQ(calls(), (std::vector<int>{1, 1, 3}));
  // Kept per view and, as one scorer reads it, per target model.
  pick_slot(s, tp, "", "other-model");
  EXPECT_EQ(calls(), (std::vector<int>{2, 2, 4}));
  EXPECT_EQ(pick_slot(s, tp), 1u);
  EXPECT_EQ(calls(), (std::vector<int>{2, 2, 5}));
  tp.set(2, {.kv = 0.0});  // a new view
  EXPECT_EQ(pick_slot(s, tp), 2u);
  EXPECT_EQ(calls(), (std::vector<int>{3, 3, 6}));
  // Candidates that are not the whole view (an exclusion) ask every scorer.
  SchedulingRequest r{"m", "", 0};
  const Endpoint* tried[] = {tp.pool.endpoints[2].get()};
  EXPECT_EQ(s.begin(tp.pool, r, {tp.random, tp.clock})->pick(tried).endpoint, tp.pool.endpoints[1]);
  EXPECT_EQ(calls(), (std::vector<int>{4, 4, 7}));
}

// A scorer asked on every decision that records what it found of the metrics columns: still
// pending (not copied), or their kv_usage.
class ProbeScorer final : public Scorer {
 public:
  explicit ProbeScorer(bool reads) : reads_(reads) { type = name = "probe"; }
  bool reads_metrics() const override { return reads_; }
  void score(CycleState&, Candidates& c, std::span<double> out) override {
    pending.push_back(c.metrics_pending != nullptr);
    if (!c.metrics_pending) kv.emplace_back(c.kv_usage.begin(), c.kv_usage.end());
    std::fill(out.begin(), out.end(), 0.0);
  }
  std::vector<bool> pending;
  std::vector<std::vector<double>> kv;

 private:
  bool reads_;
};

// A decision over a whole view copies the view's metrics columns only for the plugins that read
// them: the kept scorers when they are asked (a new view), and any plugin asked on every
// decision that does not say it reads none. Two pools decide in turn on one thread, so columns
// left from the other pool's decision would show.
TEST(ProfileScheduler, MetricsColumnsAreCopiedOnlyForThePluginsThatReadThem) {
  for (const bool reads : {false, true}) {
    auto probe = std::make_shared<ProbeScorer>(reads);
    auto kept = std::make_shared<CountingScorer>(ScoreDepends::kMetrics);
    kept->type = kept->name = "counting";
    auto profile = std::make_shared<SchedulingProfile>("probed");
    profile->add_scorer(kept, 1.0);
    profile->add_scorer(probe, 1.0);
    profile->set_picker(testing::make_plugin<Picker>("max-score-picker"));
    ProfileScheduler s(profile, {});
    TestPool a(3), b(3);
    for (std::size_t i = 0; i < 3; ++i) {
      a.set(i, {.kv = 0.1 * static_cast<double>(i + 1)});
      b.set(i, {.kv = 0.5 + 0.1 * static_cast<double>(i)});
    }
    for (int round = 0; round < 2; ++round) {
      EXPECT_EQ(pick_slot(s, a), 0u);
      EXPECT_EQ(pick_slot(s, b), 0u);
    }
    EXPECT_EQ(kept->calls, 2) << "once per view";
    const std::vector<double> kv_a{0.1, 0.2, 0.30000000000000004};
    const std::vector<double> kv_b{0.5, 0.6, 0.7};
    if (!reads) {
      // Copied when the kept scorer was asked (the first decision of each view), not after.
      EXPECT_EQ(probe->pending, (std::vector<bool>{false, false, true, true}));
      EXPECT_EQ(probe->kv, (std::vector<std::vector<double>>{kv_a, kv_b}));
    } else {
      EXPECT_EQ(probe->pending, (std::vector<bool>{false, false, false, false}));
      EXPECT_EQ(probe->kv, (std::vector<std::vector<double>>{kv_a, kv_b, kv_a, kv_b}));
    }
  }
}

// The in-flight tokens are read only for a plugin that reads the pending columns: the
// token-load scorer sees every endpoint's, over a whole view, and they move between decisions.
TEST(ProfileScheduler, TheTokenLoadScorerSeesTheInFlightTokensOfAWholeView) {
  auto profile = std::make_shared<SchedulingProfile>("tokens");
  profile->add_scorer(testing::make_plugin<Scorer>("token-load-scorer"), 1.0);
  profile->set_picker(testing::make_plugin<Picker>("max-score-picker"));
  ProfileScheduler s(profile, {});
  TestPool tp(3);
  const long tokens[] = {9000, 200, 5000};
  for (std::size_t i = 0; i < 3; ++i) {
    tp.set(i, {});
    tp.pool.endpoints[i]->in_flight_tokens = tokens[i];
  }
  EXPECT_EQ(pick_slot(s, tp), 1u);
  tp.pool.endpoints[1]->in_flight_tokens = 20000;
  EXPECT_EQ(pick_slot(s, tp), 2u);
}

// Every decision is timed, whole and per plugin call, on the cycle clock: one observation each,
// of a plausible length (not a count of raw ticks, and not negative).
TEST(ProfileScheduler, ADecisionAndEachPluginCallAreTimed) {
  auto profile = std::make_shared<SchedulingProfile>("timed");
  profile->add_scorer(testing::make_plugin<Scorer>("running-requests-scorer"), 1.0);
  profile->set_picker(testing::make_plugin<Picker>("max-score-picker"));
  ProfileScheduler s(profile, {});
  TestPool tp(3);
  for (std::size_t i = 0; i < 3; ++i) tp.set(i, {});
  LatencyHistogram& e2e = SchedulerLatency::instance().e2e();
  LatencyHistogram& scorer = SchedulerLatency::instance().plugin(
      "Scorer", "running-requests-scorer", "running-requests-scorer");
  LatencyHistogram& picker =
      SchedulerLatency::instance().plugin("Picker", "max-score-picker", "max-score-picker");
  const auto before = std::make_tuple(e2e.read(), scorer.read(), picker.read());
  pick_slot(s, tp);
  const auto after = std::make_tuple(e2e.read(), scorer.read(), picker.read());
  EXPECT_EQ(std::get<0>(after).count, std::get<0>(before).count + 1);
  EXPECT_EQ(std::get<1>(after).count, std::get<1>(before).count + 1);
  EXPECT_EQ(std::get<2>(after).count, std::get<2>(before).count + 1);
  const double decision_s = std::get<0>(after).sum - std::get<0>(before).sum;
  EXPECT_GE(decision_s, 0.0);
  EXPECT_LT(decision_s, 10.0) << "a decision of three endpoints took ten seconds?";
}

// Candidates that move (a filter's retain, a truncate) fill the pending columns first: the
// view's metrics, slots, endpoints and ids, and the endpoints' in-flight tokens.
TEST(Candidates, PendingMetricsAreCopiedBeforeCandidatesMove) {
  TestPool tp(4);
  for (std::size_t i = 0; i < 4; ++i) {
    tp.set(i, {.waiting = static_cast<double>(i)});
    tp.pool.endpoints[i]->in_flight_tokens = 100 * static_cast<long>(i);
  }
  const auto view = tp.pool.view.load();
  const auto pending = [&] {
    Candidates c;
    c.reset(4);  // every column zero
    c.whole_view = c.metrics_pending = view.get();
    return c;
  };
  const auto endpoint = [&](std::size_t i) { return tp.pool.endpoints[i].get(); };
  Candidates kept = pending();
  const std::uint8_t odd[] = {0, 1, 0, 1};
  kept.retain(odd);
  EXPECT_EQ(kept.metrics_pending, nullptr);
  EXPECT_EQ(kept.waiting, (std::vector<double>{1, 3}));
  EXPECT_EQ(kept.in_flight_tokens, (std::vector<double>{100, 300}));
  EXPECT_EQ(kept.slot, (std::vector<std::uint32_t>{1, 3}));
  EXPECT_EQ(kept.endpoint, (std::vector<Endpoint*>{endpoint(1), endpoint(3)}));
  EXPECT_EQ(kept.id, (std::vector<std::uint32_t>{endpoint(1)->id, endpoint(3)->id}));
  Candidates cut = pending();
  cut.truncate(3);
  EXPECT_EQ(cut.metrics_pending, nullptr);
  EXPECT_EQ(cut.waiting, (std::vector<double>{0, 1, 2}));
  EXPECT_EQ(cut.in_flight_tokens, (std::vector<double>{0, 100, 200}));
  Candidates whole = pending();
  whole.truncate(4);  // no move: still pending
  EXPECT_EQ(whole.metrics_pending, view.get());
  EXPECT_EQ(whole.slot_of(2), 2u);
  EXPECT_EQ(std::vector<std::uint32_t>(whole.ids().begin(), whole.ids().end()),
            (std::vector<std::uint32_t>{endpoint(0)->id, endpoint(1)->id, endpoint(2)->id,
                                        endpoint(3)->id}));
  whole.fill_metrics();
  EXPECT_EQ(whole.slot, (std::vector<std::uint32_t>{0, 1, 2, 3}));
  EXPECT_EQ(whole.endpoint,
            (std::vector<Endpoint*>{endpoint(0), endpoint(1), endpoint(2), endpoint(3)}));
  EXPECT_EQ(whole.waiting, (std::vector<double>{0, 1, 2, 3}));
  EXPECT_EQ(whole.in_flight_tokens, (std::vector<double>{0, 100, 200, 300}));
}

// Candidates a filter narrowed are not the whole view: their scores are never kept.
TEST(ProfileScheduler, AFilteredDecisionAsksEveryScorer) {
  auto metrics = std::make_shared<CountingScorer>(ScoreDepends::kMetrics);
  metrics->type = metrics->name = "counting";
  auto profile = std::make_shared<SchedulingProfile>("filtered");
  profile->add_filter(testing::make_plugin<Filter>("low-queue-filter", {{"threshold", "5"}}));
  profile->add_scorer(metrics, 1.0);
  profile->set_picker(testing::make_plugin<Picker>("max-score-picker"));
  ProfileScheduler s(profile, {});
  TestPool tp(3);
  tp.set(0, {.waiting = 0, .kv = 0.5});
  tp.set(1, {.waiting = 9, .kv = 0.0});
  tp.set(2, {.waiting = 1, .kv = 0.2});
  for (int i = 0; i < 3; ++i) EXPECT_EQ(pick_slot(s, tp), 2u);
  EXPECT_EQ(metrics->calls, 3);
}

TEST(ProfileScheduler, AFilterThatLeavesNoneAnswers429) {
  config::LoadResult loaded;
  config::load_text(R"(apiVersion: inference.networking.x-k8s.io/v1alpha1
kind: EndpointPickerConfig
plugins:
- {type: low-queue-filter, parameters: {threshold: 5}}
schedulingProfiles:
- {name: default, plugins: [{pluginRef: low-queue-filter}]}
)",
                    "epc.yaml", loaded);
  ASSERT_TRUE(loaded.diagnostics.ok()) << loaded.diagnostics.error_text();
  config::Config cfg;
  cfg.picker = loaded.resources.picker_configs.front();
  cfg.pools.emplace_back();
  config::Diagnostics diag;
  auto profile = build_pool_profile(cfg, 0, {}, diag);
  ASSERT_TRUE(profile) << diag.error_text();
  EXPECT_EQ(profile->describe(), "low-queue-filter max-score-picker");
  ProfileScheduler s(profile, {});
  TestPool tp(2);
  tp.set(0, {.waiting = 9});
  tp.set(1, {.waiting = 6});
  SchedulingRequest r{"m", "", 0};
  auto picked = s.begin(tp.pool, r, {tp.random, tp.clock})->pick({});
  EXPECT_EQ(picked.failure.status, 429);
  tp.set(1, {.waiting = 2});
  EXPECT_EQ(pick_slot(s, tp), 1u);
}

TEST(ProfileScheduler, SharedPrefixesStickAndFollowRetries) {
  TestPool tp(4);
  for (std::size_t i = 0; i < 4; ++i) tp.set(i, {});
  auto s = named("gie-default", {}, tp.prefix_index);
  const std::string prompt = std::string(4000, 's') + "question";
  const std::size_t first = pick_slot(*s, tp, prompt);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(pick_slot(*s, tp, prompt), first);

  // A retry moves the prompt's blocks to the endpoint that finally served it.
  const std::string other = std::string(4000, 'o');
  SchedulingRequest r{"m", other, 0};
  auto session = s->begin(tp.pool, r, {tp.random, tp.clock});
  auto a = session->pick({});
  session->dispatched(*a.endpoint);
  const Endpoint* tried[] = {a.endpoint.get()};
  auto b = session->pick(tried);
  ASSERT_TRUE(b.endpoint);
  session->dispatched(*b.endpoint);
  EXPECT_NE(a.endpoint, b.endpoint);
  std::vector<std::uint64_t> blocks;
  prefix::hash_prompt_blocks("m", other, {}, blocks);
  const std::uint32_t ids[] = {a.endpoint->id, b.endpoint->id};
  std::uint32_t matched[2] = {};
  tp.prefix_index->match(blocks, ids, matched);
  EXPECT_EQ(matched[0], 0u);
  EXPECT_EQ(matched[1], blocks.size());
}

TEST(ProfileScheduler, LoraRequestsGoWhereTheAdapterRuns) {
  TestPool tp(3);
  tp.set(0, {.running_adapters = {"a", "b"}, .max_lora = 2});
  tp.set(1, {.running_adapters = {"sql-lora"}, .max_lora = 2});
  tp.set(2, {.running_adapters = {"c"}, .max_lora = 2});
  auto s = named("default");
  for (int i = 0; i < 20; ++i) EXPECT_EQ(pick_slot(*s, tp, "", "sql-lora"), 1u);
}

// --- configuration: EndpointPickerConfig documents, ConfigMaps, annotations -------------

const std::string kFixtures = INFERGATE_FIXTURES_DIR "/manifests/";

TEST(PickerConfig, UpstreamManifestsWithEmbeddedConfigsBuild) {
  for (const char* file : {"gie-v0.5.1/config/manifests/inferencepool-resources.yaml",
                           "gie-v1.0.2/config/manifests/inferencepool-resources.yaml"}) {
    auto result = config::load_config({kFixtures + file}, scheduling_validator({}));
    ASSERT_TRUE(result.config) << file << "\n" << result.diagnostics.error_text();
    ASSERT_TRUE(result.config->picker) << file;
    config::Diagnostics diag;
    auto profile = build_pool_profile(*result.config, 0, {}, diag);
    ASSERT_TRUE(profile) << diag.error_text();
    if (std::string(file).find("v0.5.1") != std::string::npos)
      EXPECT_EQ(profile->describe(),
                "low-latency-filter random-picker");  // the legacy decision tree
    else
      EXPECT_EQ(
          profile->describe(),
          "queue-scorer*1 kv-cache-utilization-scorer*1 prefix-cache-scorer*1 max-score-picker");
  }
}

TEST(PickerConfig, DocsExamplesBuild) {
  for (const char* file :
       {"gie-v1.5.0/extracted-from-docs/endpointpickerconfig-prefix-cache-minimal.yaml",
        "gie-v1.5.0/extracted-from-docs/endpointpickerconfig-prefix-cache-with-picker.yaml",
        "gie-v1.5.0/test/integration/epp/testdata/default-config.yaml"}) {
    config::LoadResult loaded = config::load_files({kFixtures + file});
    auto built = config::build_config(std::move(loaded), {}, scheduling_validator({}));
    ASSERT_TRUE(built.config) << file << "\n" << built.diagnostics.error_text();
  }
}

std::string with_picker(const std::string& picker, const std::string& annotation = "") {
  return std::string(R"(apiVersion: inference.networking.k8s.io/v1
kind: InferencePool
metadata:
  name: p
)") +
         (annotation.empty()
              ? ""
              : "  annotations: {infergate.dev/scheduling-profile: " + annotation + "}\n") +
         R"(spec:
  targetPorts: [{number: 8000}]
  selector: {matchLabels: {app: x}}
  endpointPickerRef: {name: epp}
---
)" + picker;
}

TEST(PickerConfig, MistakesFailWithFileLineAndField) {
  struct Case {
    std::string yaml, annotation, expect;
  };
  const std::vector<Case> cases = {
      {"apiVersion: inference.networking.x-k8s.io/v1alpha1\nkind: EndpointPickerConfig\nplugins:\n"
       "- type: queue-scorerr\nschedulingProfiles:\n- name: default\n  plugins: [{pluginRef: "
       "queue-scorerr}]\n",
       "", "t.yaml:13:3: plugins[0].type: unknown plugin type 'queue-scorerr'"},
      {"apiVersion: inference.networking.x-k8s.io/v1alpha1\nkind: EndpointPickerConfig\nplugins:\n"
       "- type: queue-scorer\nschedulingProfiles:\n- name: default\n  plugins: [{pluginRef: "
       "queue}]\n",
       "", "plugins[0].pluginRef: no plugin named 'queue'"},
      {"apiVersion: inference.networking.x-k8s.io/v1alpha1\nkind: EndpointPickerConfig\nplugins:\n"
       "- type: queue-scorer\nschedulingProfiles:\n- name: default\n  plugins: [{pluginRef: "
       "queue-scorer, weight: -2}]\n",
       "", "weight: must be a non-negative number"},
      {"apiVersion: inference.networking.x-k8s.io/v1alpha1\nkind: EndpointPickerConfig\nplugins:\n"
       "- type: low-queue-filter\n  parameters: {threshold: many}\nschedulingProfiles:\n- name: "
       "default\n"
       "  plugins: [{pluginRef: low-queue-filter}]\n",
       "", "t.yaml:14:27: plugins[0].parameters.threshold: must be a number"},
      {"", "fastest",
       "metadata.annotations.infergate.dev/scheduling-profile: no scheduling profile named "
       "'fastest'"},
  };
  for (const auto& c : cases) {
    config::LoadResult loaded;
    config::load_text(with_picker(c.yaml, c.annotation), "t.yaml", loaded);
    auto built = config::build_config(std::move(loaded), {}, scheduling_validator({}));
    EXPECT_FALSE(built.config) << c.expect;
    EXPECT_NE(built.diagnostics.error_text().find(c.expect), std::string::npos)
        << "expected: " << c.expect << "\ngot: " << built.diagnostics.error_text();
  }
  // An annotation naming a ready-made profile is fine.
  config::LoadResult loaded;
  config::load_text(with_picker("", "least-request"), "t.yaml", loaded);
  auto built = config::build_config(std::move(loaded), {}, scheduling_validator({}));
  ASSERT_TRUE(built.config) << built.diagnostics.error_text();
  config::Diagnostics diag;
  EXPECT_EQ(build_pool_profile(*built.config, 0, {}, diag)->describe(),
            "running-requests-scorer*1 max-score-picker");
}

// --- outlier ejection ------------------------------------------------------------------------

TEST(OutlierDetector, ConsecutiveFailuresEjectWithGrowingBackOffWithinTheShare) {
  TestPool tp(4);
  OutlierOptions o;  // 5 failures, 10 s base, half the pool at most
  Endpoint& a = *tp.pool.endpoints[0];
  const auto fail = [&](Endpoint& ep, int n) {
    bool ejected = false;
    for (int i = 0; i < n; ++i)
      ejected |= report_outcome(o, tp.pool, ep, AttemptOutcome::kFailure, tp.clock);
    return ejected;
  };
  EXPECT_FALSE(fail(a, 4));
  report_outcome(o, tp.pool, a, AttemptOutcome::kSuccess, tp.clock);  // the run is broken
  EXPECT_FALSE(fail(a, 4));
  EXPECT_TRUE(fail(a, 1));
  EXPECT_EQ(a.outlier.ejected_until_ns(), (tp.clock.now() + std::chrono::seconds(10)).count());
  EXPECT_TRUE(fail(*tp.pool.endpoints[1], 5));   // two of four: allowed
  EXPECT_FALSE(fail(*tp.pool.endpoints[2], 5));  // a third would pass the share
  tp.clock.advance(std::chrono::seconds(11));
  EXPECT_TRUE(fail(a, 5));  // ejected again, for twice as long
  EXPECT_EQ(a.outlier.ejected_until_ns(), (tp.clock.now() + std::chrono::seconds(20)).count());
  EXPECT_EQ(a.outlier.ejections_total.load(), 2u);
}

TEST(OutlierDetector, NeverEjectsTheLastEndpoint) {
  TestPool tp(1);
  OutlierOptions o;
  for (int i = 0; i < 20; ++i)
    EXPECT_FALSE(
        report_outcome(o, tp.pool, *tp.pool.endpoints[0], AttemptOutcome::kFailure, tp.clock));
}

// --- scrape results ----------------------------------------------------------------------------

const char* kPage =
    "vllm:num_requests_waiting{model_name=\"m\"} 3\nvllm:num_requests_running{model_name=\"m\"} 7\n"
    "vllm:kv_cache_usage_perc{model_name=\"m\"} 0.25\n";

TEST(ScrapeResult, PagesFeedSamplesAndFailuresTakeEndpointsOut) {
  TestPool tp(1);
  Endpoint& ep = *tp.pool.endpoints[0];
  ScrapeTrack track;
  ScrapeOptions o;  // 3 failures
  EXPECT_FALSE(apply_scrape(ep, track, ScrapeFailure::kNone, kPage, tp.clock.now(), o));
  auto sample = ep.latest.load();
  ASSERT_TRUE(sample);
  EXPECT_EQ(sample->metrics.waiting, 3);
  EXPECT_EQ(sample->metrics.running, 7);
  EXPECT_EQ(sample->metrics.kv_usage, 0.25);
  EXPECT_FALSE(apply_scrape(ep, track, ScrapeFailure::kTimeout, "", tp.clock.now(), o));
  EXPECT_FALSE(
      apply_scrape(ep, track, ScrapeFailure::kNone, "garbage{", tp.clock.now(), o));  // malformed
  EXPECT_TRUE(ep.scrape_healthy.load());
  EXPECT_TRUE(
      apply_scrape(ep, track, ScrapeFailure::kStatus, "", tp.clock.now(), o));  // third in a row
  EXPECT_FALSE(ep.scrape_healthy.load());
  EXPECT_EQ(ep.latest.load(), sample);  // the last good sample stays (and ages into staleness)
  EXPECT_TRUE(apply_scrape(ep, track, ScrapeFailure::kNone, kPage, tp.clock.now(), o));  // back
  EXPECT_TRUE(ep.scrape_healthy.load());
  EXPECT_TRUE(
      apply_scrape(ep, track, ScrapeFailure::kRefused, "", tp.clock.now(), o));  // refused: at once
  EXPECT_FALSE(ep.scrape_healthy.load());
  EXPECT_EQ(ep.scrape_failures_total.load(), 4u);
}

}  // namespace
}  // namespace infergate::gateway::scheduling

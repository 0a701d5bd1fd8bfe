// The scheduler's metric families as both upstream pickers name them: the latency histograms
// under each name's own buckets, the attempts by outcome and endpoint, the prefix index's hit
// ratio and length per decision. The registries are process-wide: each test uses label values
// of its own.
#include <gtest/gtest.h>

#include "../../../support/prometheus_text.hpp"
#include "../pool_fixture.hpp"
#include "config/load_resources.hpp"
#include "gateway/scheduling/framework/build.hpp"
#include "gateway/scheduling/framework/plugin_latency.hpp"
#include "gateway/scheduling/framework/prefix_match_metrics.hpp"
#include "gateway/scheduling/framework/scheduler_attempts.hpp"
#include "metrics/prometheus_writer.hpp"

namespace infergate::gateway::scheduling {
namespace {

using infergate::testing::sample_value;
using testing::TestPool;

template <typename Registry, typename... Args>
std::string render(const Registry& registry, Args... args) {
  std::string out;
  metrics::PrometheusWriter w(out);
  registry.render(w, args...);
  return out;
}

std::shared_ptr<const SchedulingProfile> profile_of(const std::string& yaml) {
  config::LoadResult loaded;
  config::load_text(yaml, "epc.yaml", loaded);
  EXPECT_TRUE(loaded.diagnostics.ok()) << loaded.diagnostics.error_text();
  config::Config cfg;
  cfg.picker = loaded.resources.picker_configs.front();
  cfg.pools.emplace_back();
  config::Diagnostics diag;
  auto profile = build_pool_profile(cfg, 0, {}, diag);
  EXPECT_TRUE(profile) << diag.error_text();
  return profile;
}

// Cumulative counts at a subset of the bounds are exact: each name shows its own buckets.
TEST(SchedulerLatency, EachNameHasItsOwnBuckets) {
  auto& latency = SchedulerLatency::instance();
  auto& h = latency.plugin("Filter", "low-queue-filter", "latency-buckets");
  h.observe(1'500);      // 1.5 us
  h.observe(150'000);    // 150 us
  h.observe(3'000'000);  // 3 ms
  const std::string page = render(latency);
  const std::string labels =
      R"({extension_point="Filter",plugin_name="latency-buckets",plugin_type="low-queue-filter",)";
  for (const char* upstream :
       {"inference_extension_plugin_duration_seconds", "llm_d_epp_plugin_duration_seconds"}) {
    const std::string bucket = std::string(upstream) + "_bucket" + labels;
    EXPECT_EQ(sample_value(page, bucket + R"(le="0.0001"})"), 1) << page;
    EXPECT_EQ(sample_value(page, bucket + R"(le="0.0002"})"), 2);
    EXPECT_EQ(sample_value(page, bucket + R"(le="0.002"})"), 2);
    EXPECT_EQ(sample_value(page, bucket + R"(le="0.005"})"), 3);
    EXPECT_EQ(sample_value(page, bucket + R"(le="+Inf"})"), 3);
    EXPECT_EQ(sample_value(page, bucket + R"(le="2.5e-06"})"), -1) << "not an upstream bucket";
    EXPECT_DOUBLE_EQ(sample_value(page, std::string(upstream) + "_sum" +
                                            labels.substr(0, labels.size() - 1) + "}"),
                     0.0031515);
  }
  const std::string ours = "infergate_scheduler_plugin_duration_seconds_bucket" + labels;
  EXPECT_EQ(sample_value(page, ours + R"(le="2.5e-06"})"), 1);
  EXPECT_EQ(sample_value(page, ours + R"(le="0.00025"})"), 2);
  EXPECT_EQ(sample_value(page, ours + R"(le="0.0002"})"), -1) << "not one of our buckets";
  EXPECT_EQ(sample_value(page, ours + R"(le="0.01"})"), 3);
  EXPECT_NE(page.find("# HELP inference_extension_scheduler_e2e_duration_seconds [ALPHA] "
                      "End-to-end scheduling latency distribution in seconds.\n"),
            std::string::npos);
  EXPECT_NE(page.find("# TYPE llm_d_epp_scheduler_e2e_duration_seconds histogram\n"),
            std::string::npos);
}

TEST(SchedulerAttempts, SuccessNamesTheEndpointFailureNone) {
  TestPool tp(2);
  tp.pool.key = "ns1/pool";
  for (std::size_t i = 0; i < 2; ++i) tp.set(i, {});
  tp.set(0, {.waiting = 4});  // ep1 is the least loaded
  auto profile = profile_of(R"(apiVersion: inference.networking.x-k8s.io/v1alpha1
kind: EndpointPickerConfig
plugins:
- {type: queue-scorer}
schedulingProfiles:
- {name: default, plugins: [{pluginRef: queue-scorer}]}
)");
  ProfileScheduler s(profile, {});
  SchedulingRequest r{"attempts-model", "", 0};
  auto session = s.begin(tp.pool, r, {tp.random, tp.clock});
  auto a = session->pick({});
  ASSERT_EQ(a.endpoint, tp.pool.endpoints[1]);
  auto b = session->pick({});
  const Endpoint* both[] = {tp.pool.endpoints[0].get(), tp.pool.endpoints[1].get()};
  EXPECT_FALSE(session->pick(both).endpoint);

  const std::string page = render(SchedulerAttempts::instance());
  EXPECT_EQ(
      sample_value(
          page,
          R"(inference_extension_scheduler_attempts_total{namespace="ns1",pod_name="ep1",port="9001",status="success",target_model_name="attempts-model"})"),
      2)
      << page;
  EXPECT_EQ(
      sample_value(
          page,
          R"(llm_d_epp_scheduler_attempts_total{endpoint_name="ep1",namespace="ns1",port="9001",status="success",target_model_name="attempts-model"})"),
      2);
  EXPECT_EQ(
      sample_value(
          page,
          R"(inference_extension_scheduler_attempts_total{namespace="",pod_name="",port="",status="failure",target_model_name="attempts-model"})"),
      1);
  EXPECT_EQ(
      sample_value(
          page,
          R"(llm_d_epp_scheduler_attempts_total{endpoint_name="",namespace="",port="",status="failure",target_model_name="attempts-model"})"),
      1);
  EXPECT_NE(page.find("# HELP llm_d_epp_scheduler_attempts_total [ALPHA] Total number of "
                      "scheduling attempts.\n# TYPE llm_d_epp_scheduler_attempts_total counter\n"),
            std::string::npos);
}

// The target model is the client's to choose: past the cap, names count under "other".
TEST(SchedulerAttempts, DistinctTargetModelsAreCapped) {
  SchedulerAttempts attempts;
  for (std::size_t i = 0; i < SchedulerAttempts::kMaxTargetModels + 5; ++i)
    attempts.count("model-" + std::to_string(i), "", nullptr);
  attempts.count("model-0", "", nullptr);  // a kept name stays itself
  const std::string page = render(attempts);
  const auto failures = [&](const std::string& model) {
    return sample_value(
        page,
        R"(llm_d_epp_scheduler_attempts_total{endpoint_name="",namespace="",port="",status="failure",target_model_name=")" +
            model + "\"}");
  };
  EXPECT_EQ(failures("model-0"), 2);
  EXPECT_EQ(failures("model-999"), 1);
  EXPECT_EQ(failures("model-1000"), -1);
  EXPECT_EQ(failures("other"), 5);
}

// Upstream's ratio: the chosen endpoint's matched blocks over the prompt's; the length is the
// matched blocks times the block size in characters.
TEST(PrefixMatchMetrics, EachDecisionCountsTheChosenEndpointsMatch) {
  TestPool tp(2);
  for (std::size_t i = 0; i < 2; ++i) tp.set(i, {});
  auto profile = profile_of(R"(apiVersion: inference.networking.x-k8s.io/v1alpha1
kind: EndpointPickerConfig
plugins:
- {type: prefix-cache-scorer, name: hits-scorer, parameters: {blockSizeTokens: 16}}
schedulingProfiles:
- {name: default, plugins: [{pluginRef: hits-scorer}]}
)");
  ProfileScheduler s(profile, {}, tp.prefix_index);
  auto& metrics = PrefixMatchMetrics::instance();
  const std::string before = render(metrics, std::size_t{0});
  const std::string prompt(640, 'p');  // 10 blocks of 64 characters
  for (int i = 0; i < 2; ++i) {
    SchedulingRequest r{"m", prompt, 0};
    auto session = s.begin(tp.pool, r, {tp.random, tp.clock});
    auto picked = session->pick({});
    ASSERT_TRUE(picked.endpoint);
    session->dispatched(*picked.endpoint);  // the second decision finds it all there
  }
  const std::string page = render(metrics, std::size_t{42});
  const std::string labels = R"({plugin_name="hits-scorer",plugin_type="prefix-cache-scorer")";
  EXPECT_EQ(sample_value(page, "llm_d_epp_prefix_indexer_size" + labels + "}"), 42) << page;
  EXPECT_EQ(sample_value(page, "inference_extension_prefix_indexer_size "), 42);
  const std::string ratio = "llm_d_epp_prefix_indexer_hit_ratio_bucket" + labels;
  EXPECT_EQ(sample_value(page, ratio + R"(,le="0"})"), 1);
  EXPECT_EQ(sample_value(page, ratio + R"(,le="0.9"})"), 1);
  EXPECT_EQ(sample_value(page, ratio + R"(,le="1"})"), 2);
  const std::string bytes = "llm_d_epp_prefix_indexer_hit_bytes";
  EXPECT_EQ(sample_value(page, bytes + "_bucket" + labels + R"(,le="0"})"), 1);
  EXPECT_EQ(sample_value(page, bytes + "_bucket" + labels + R"(,le="512"})"), 1);
  EXPECT_EQ(sample_value(page, bytes + "_bucket" + labels + R"(,le="1024"})"), 2);
  EXPECT_EQ(sample_value(page, bytes + "_sum" + labels + "}"), 640);
  // The unlabelled families count every plugin's decisions.
  const auto count = [](const std::string& p, const std::string& name) {
    const double v = sample_value(p, name + "_count ");
    return v < 0 ? 0.0 : v;
  };
  for (const char* name : {"inference_extension_prefix_indexer_hit_ratio",
                           "inference_extension_prefix_indexer_hit_bytes"})
    EXPECT_EQ(count(page, name) - count(before, name), 2) << name;
}

}  // namespace
}  // namespace infergate::gateway::scheduling

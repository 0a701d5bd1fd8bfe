// The gateway's own /metrics families (pools, endpoints, prefix index, the scheduler's latency
// histograms, flow control) read back as valid Prometheus text with upstream's names and labels.
#include "gateway/server/pool_metrics.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include "config/load_resources.hpp"
#include "gateway/datastore/availability.hpp"
#include "gateway/flowcontrol/flow_controller.hpp"
#include "gateway/flowcontrol/saturation.hpp"
#include "gateway/scheduling/framework/plugin_latency.hpp"
#include "metrics/prometheus_text.hpp"

namespace infergate::gateway {
namespace {

const char* kConfig = R"(
apiVersion: infergate.dev/v1alpha1
kind: StaticEndpoints
metadata: {name: eps}
spec:
  endpoints:
  - {name: l0, address: "10.0.0.1:8000", labels: {app: llama}}
  - {name: l1, address: "10.0.0.2:8000", labels: {app: llama}}
  - {name: l2, address: "10.0.0.3:8000", labels: {app: llama}}
---
apiVersion: inference.networking.k8s.io/v1
kind: InferencePool
metadata: {name: llama}
spec: {targetPorts: [{number: 8000}], selector: {matchLabels: {app: llama}}}
)";

std::string read_golden(const std::string& name) {
  std::ifstream in(std::string(INFERGATE_FIXTURES_DIR) + "/metrics/gie-epp-v1.5.0/" + name);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

struct Page {
  std::string text;
  std::map<std::string, double> samples;  // "name{labels}" -> value
};

class PoolMetrics : public ::testing::Test {
 protected:
  PoolMetrics()
      : flow_control(
            std::make_shared<flowcontrol::FlowControl>(clock, flowcontrol::FlowControlOptions{})),
        prefix_indexes(std::make_shared<scheduling::PrefixIndexes>()),
        datastore({}, {prefix_indexes, flow_control}) {
    config::LoadResult loaded;
    config::load_text(kConfig, "test.yaml", loaded);
    auto built = config::build_config(std::move(loaded));
    if (!built.config) throw std::runtime_error(built.diagnostics.error_text());
    snapshot = datastore.reconcile(built.config);
  }

  Endpoint& endpoint(std::size_t i) { return *snapshot->pools[0]->endpoints[i]; }
  void scrape(std::size_t i, double waiting, double kv) {
    metrics::EndpointMetrics m;
    m.waiting = waiting;
    m.kv_usage = kv;
    endpoint(i).latest.store(
        std::make_shared<const EndpointSample>(EndpointSample{m, clock.now()}));
  }

  Page render() {
    Page page;
    render_pool_metrics(*snapshot, clock.now(), std::chrono::milliseconds(200),
                        {prefix_indexes.get(), flow_control.get()}, page.text);
    auto scanner = metrics::SampleScanner::every_metric(page.text);
    metrics::Sample s;
    while (scanner.next(s) == metrics::SampleScanner::Status::kSample)
      page.samples[std::string(s.name) + "{" + std::string(s.labels) + "}"] = s.value;
    EXPECT_TRUE(scanner.error().reason.empty())
        << "line " << scanner.error().line << ": " << scanner.error().reason << "\n"
        << page.text;
    return page;
  }

  ManualClock clock{std::chrono::seconds(100)};
  std::shared_ptr<flowcontrol::FlowControl> flow_control;
  std::shared_ptr<scheduling::PrefixIndexes> prefix_indexes;
  Datastore datastore;
  std::shared_ptr<const Snapshot> snapshot;
};

TEST_F(PoolMetrics, PageIsValidWithUpstreamNamesAndLabels) {
  scrape(0, 3, 0.5);
  scrape(1, 1, 0.25);
  endpoint(2).requests = 7;
  auto& latency = scheduling::SchedulerLatency::instance();
  latency.plugin("filter", "low-queue-filter", "f\"1").observe(1500);
  latency.e2e().observe(250'000);
  const Page page = render();
  const auto& s = page.samples;
  EXPECT_EQ(s.at(R"(inference_pool_average_queue_size{name="llama"})"), 2);
  EXPECT_EQ(s.at(R"(inference_pool_average_kv_cache_utilization{name="llama"})"), 0.375);
  EXPECT_EQ(s.at(R"(inference_pool_ready_pods{name="llama"})"), 3);
  EXPECT_EQ(s.at(R"(inference_pool_per_pod_queue_size{name="llama",model_server_pod="l0"})"), 3);
  EXPECT_EQ(
      s.at(
          R"(infergate_endpoint_requests_total{pool="llama",endpoint="l2",address="10.0.0.3:8000"})"),
      7);
  EXPECT_EQ(
      s.at(R"(inference_extension_flow_control_pool_saturation{inference_pool="default/llama"})"),
      0);
  EXPECT_GE(
      s.at(
          R"(infergate_scheduler_plugin_duration_seconds_bucket{extension_point="filter",plugin_name="f\"1",plugin_type="low-queue-filter",le="2.5e-06"})"),
      1);
  for (const char* prefix : {"inference_extension_", "llm_d_epp_"}) {
    const std::string p = prefix;
    EXPECT_GE(
        s.at(
            p +
            R"(plugin_duration_seconds_bucket{extension_point="filter",plugin_name="f\"1",plugin_type="low-queue-filter",le="0.0001"})"),
        1);
    EXPECT_GE(s.at(p + "scheduler_e2e_duration_seconds_count{}"), 1);
    EXPECT_EQ(s.at(p + R"(flow_control_pool_saturation{inference_pool="default/llama"})"), 0);
    for (const char* type :
         {"flow_control_request_queue_duration_seconds histogram",
          "flow_control_request_enqueue_duration_seconds histogram",
          "flow_control_dispatch_cycle_duration_seconds histogram", "flow_control_queue_size gauge",
          "flow_control_queue_bytes gauge", "scheduler_attempts_total counter",
          "prefix_indexer_size gauge", "prefix_indexer_hit_ratio histogram",
          "prefix_indexer_hit_bytes histogram"})
      EXPECT_NE(page.text.find("# TYPE " + p + type + "\n"), std::string::npos) << p << type;
  }
  EXPECT_EQ(s.at(R"(llm_d_epp_flow_control_stale_endpoints{detector="utilization-detector"})"), 0);
  EXPECT_NE(page.text.find("# TYPE llm_d_epp_flow_control_requests_total counter\n"),
            std::string::npos);
  EXPECT_EQ(page.text.find("inference_extension_scheduler_plugin_duration_seconds"),
            std::string::npos)
      << "the old name is gone: upstream's is inference_extension_plugin_duration_seconds";
  EXPECT_EQ(s.at("inference_extension_prefix_indexer_size{}"), 0);
}

// HELP texts as upstream's golden files have them (the enqueue duration's repeats the queue
// duration's there, unlike GIE's code).
TEST_F(PoolMetrics, HelpTextsAreUpstreams) {
  const std::string text = render().text;
  for (const char* fixture :
       {"flow_control_enqueue_duration_seconds_metric",
        "flow_control_dispatch_cycle_duration_seconds_metric", "plugin_processing_latencies_metric",
        "prefix_indexer_hit_bytes_metric", "prefix_indexer_hit_ratio_metric",
        "prefix_indexer_size_metric", "scheduler_attempts_total_metrics",
        "scheduler_e2e_duration_seconds_metric"}) {
    const std::string golden = read_golden(fixture);
    const std::string help = golden.substr(0, golden.find('\n') + 1);
    ASSERT_TRUE(help.starts_with("# HELP ")) << fixture;
    EXPECT_NE(text.find(help), std::string::npos) << help;
  }
}

// Ready pods, flow control's endpoints in picking and the scheduler all follow availability():
// the published view's scrape health, and no ejection.
TEST_F(PoolMetrics, ReadyPodsAreTheEndpointsPickingWouldUse) {
  PoolState& pool = *snapshot->pools[0];
  const auto ready = [&] {
    return render().samples.at(R"(inference_pool_ready_pods{name="llama"})");
  };
  const auto in_picking = [&] {
    return flowcontrol::measure_saturation(pool, clock.now(), {}).usable;
  };
  EXPECT_EQ(ready(), 3);
  endpoint(0).outlier.eject_until((clock.now() + std::chrono::seconds(1)).count());
  endpoint(1).scrape_healthy = false;
  EXPECT_EQ(ready(), 2) << "the view still says l1 scrapes fine: picking would still use it";
  EXPECT_EQ(in_picking(), 2u);
  pool.publish_view();
  EXPECT_EQ(ready(), 1);
  EXPECT_EQ(in_picking(), 1u);
  clock.advance(std::chrono::seconds(1));
  EXPECT_EQ(ready(), 2) << "l0's ejection is over";
  EXPECT_EQ(in_picking(), 2u);
}

}  // namespace
}  // namespace infergate::gateway

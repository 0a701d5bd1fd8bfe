// The gateway's own /metrics families (pools, endpoints, prefix index, the scheduler's latency
// histograms, flow control) read back as valid Prometheus text with upstream's names and labels.
#include "gateway/server/pool_metrics.hpp"

#include <gtest/gtest.h>

#include <map>
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
  EXPECT_GE(s.at("inference_extension_scheduler_e2e_duration_seconds_count{}"), 1);
  EXPECT_NE(page.text.find("# TYPE inference_extension_flow_control_request_queue_duration_seconds "
                           "histogram\n"),
            std::string::npos);
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
  endpoint(0).outlier.ejected_until_ns = (clock.now() + std::chrono::seconds(1)).count();
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

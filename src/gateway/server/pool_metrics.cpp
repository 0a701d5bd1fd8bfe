#include "gateway/server/pool_metrics.hpp"

#include <algorithm>
#include <cstdio>
#include <set>

#include "gateway/flowcontrol/flow_controller.hpp"
#include "gateway/scheduling/framework/plugin_latency.hpp"
#include "gateway/scheduling/prefix/prefix_index.hpp"

namespace infergate::gateway {
namespace {

std::string number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

void family(std::string& out, const char* name, const char* type, const char* help) {
  out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
}

}  // namespace

void render_pool_metrics(const Snapshot& snap, TimePoint now, Duration staleness,
                         std::string& out) {
  const auto& pools = snap.config->pools;
  struct PoolSummary {
    double kv = 0, queue = 0, running = 0;
    int fresh = 0, ready = 0;
  };
  std::vector<PoolSummary> summary(pools.size());
  for (std::size_t p = 0; p < pools.size(); ++p) {
    for (const auto& ep : snap.pools[p]->endpoints) {
      const auto sample = ep->latest.load(std::memory_order_acquire);
      const bool fresh = sample && now - sample->scraped_at <= staleness;
      const bool ejected =
          ep->outlier.ejected_until_ns.load(std::memory_order_relaxed) > now.count();
      if (ep->scrape_healthy.load(std::memory_order_relaxed) && !ejected) ++summary[p].ready;
      if (!fresh) continue;
      ++summary[p].fresh;
      summary[p].kv += sample->metrics.kv_usage.value_or(0);
      summary[p].queue += sample->metrics.waiting;
      summary[p].running += sample->metrics.running;
    }
  }
  const auto pool_label = [&](std::size_t p) { return "name=\"" + pools[p].name() + "\""; };
  const auto average = [&](const char* name, const char* help, double PoolSummary::*field) {
    family(out, name, "gauge", help);
    for (std::size_t p = 0; p < pools.size(); ++p) {
      const double n = summary[p].fresh;
      out += std::string(name) + "{" + pool_label(p) + "} " +
             number(n > 0 ? summary[p].*field / n : 0) + "\n";
    }
  };
  average("inference_pool_average_kv_cache_utilization",
          "Mean KV-cache use of the pool's freshly scraped endpoints.", &PoolSummary::kv);
  average("inference_pool_average_queue_size",
          "Mean engine queue of the pool's freshly scraped endpoints.", &PoolSummary::queue);
  average("inference_pool_average_running_requests",
          "Mean running batch of the pool's freshly scraped endpoints.", &PoolSummary::running);
  family(out, "inference_pool_ready_pods", "gauge",
         "Endpoints in picking (scraping healthy, not ejected).");
  for (std::size_t p = 0; p < pools.size(); ++p)
    out += "inference_pool_ready_pods{" + pool_label(p) + "} " + std::to_string(summary[p].ready) +
           "\n";
  family(out, "inference_pool_per_pod_queue_size", "gauge",
         "Engine queue of each endpoint, as last scraped.");
  for (std::size_t p = 0; p < pools.size(); ++p)
    for (const auto& ep : snap.pools[p]->endpoints)
      if (const auto sample = ep->latest.load(std::memory_order_acquire))
        out += "inference_pool_per_pod_queue_size{" + pool_label(p) + ",model_server_pod=\"" +
               ep->spec.name + "\"} " + number(sample->metrics.waiting) + "\n";

  const auto per_endpoint = [&](const char* name, const char* type, const char* help, auto value) {
    family(out, name, type, help);
    for (std::size_t p = 0; p < pools.size(); ++p)
      for (const auto& ep : snap.pools[p]->endpoints)
        out += std::string(name) + "{pool=\"" + pools[p].name() + "\",endpoint=\"" + ep->spec.name +
               "\",address=\"" + ep->address + "\"} " + number(value(*ep)) + "\n";
  };
  per_endpoint("infergate_endpoint_in_flight_requests", "gauge",
               "Requests in flight per endpoint (the gateway's count).", [](const Endpoint& e) {
                 return double(e.in_flight.load(std::memory_order_relaxed));
               });
  per_endpoint(
      "infergate_endpoint_in_flight_tokens", "gauge",
      "Prompt estimate plus expected output of the requests in flight per endpoint.",
      [](const Endpoint& e) { return double(e.in_flight_tokens.load(std::memory_order_relaxed)); });
  per_endpoint(
      "infergate_endpoint_requests_total", "counter", "Attempts sent to the endpoint.",
      [](const Endpoint& e) { return double(e.requests.load(std::memory_order_relaxed)); });
  per_endpoint("infergate_endpoint_scrape_healthy", "gauge",
               "1 while the endpoint's /metrics scrapes succeed.", [](const Endpoint& e) {
                 return e.scrape_healthy.load(std::memory_order_relaxed) ? 1.0 : 0.0;
               });
  per_endpoint("infergate_endpoint_scrape_failures_total", "counter", "Failed /metrics scrapes.",
               [](const Endpoint& e) {
                 return double(e.scrape_failures_total.load(std::memory_order_relaxed));
               });
  per_endpoint(
      "infergate_endpoint_ejected", "gauge",
      "1 while the endpoint is ejected for failing requests.", [&](const Endpoint& e) {
        return e.outlier.ejected_until_ns.load(std::memory_order_relaxed) > now.count() ? 1.0 : 0.0;
      });
  per_endpoint("infergate_endpoint_ejections_total", "counter",
               "Times the endpoint was ejected for failing requests.", [](const Endpoint& e) {
                 return double(e.outlier.ejections_total.load(std::memory_order_relaxed));
               });

  family(out, "inference_extension_prefix_indexer_size", "gauge",
         "(block, endpoint) entries in the prefix index.");
  std::set<const PrefixIndex*> seen;
  std::size_t entries = 0, bytes = 0;
  for (const auto& pool : snap.pools)
    if (pool->prefix_index && seen.insert(pool->prefix_index.get()).second) {
      const auto s = pool->prefix_index->stats();
      entries += s.entries;
      bytes += s.memory_bytes;
    }
  out += "inference_extension_prefix_indexer_size " + std::to_string(entries) + "\n";
  family(out, "infergate_prefix_index_memory_bytes", "gauge", "Memory held by the prefix indexes.");
  out += "infergate_prefix_index_memory_bytes " + std::to_string(bytes) + "\n";
  scheduling::SchedulerLatency::instance().render(out);

  std::vector<const flowcontrol::FlowController*> flows;
  for (const auto& pool : snap.pools)
    if (pool->flow && std::find(flows.begin(), flows.end(), pool->flow.get()) == flows.end())
      flows.push_back(pool->flow.get());
  using Family = flowcontrol::FlowController::Family;
  const auto each_flow = [&](const char* name, const char* type, const char* help, Family f) {
    family(out, name, type, help);
    for (const auto* flow : flows) flow->render(out, f);
  };
  each_flow("inference_extension_flow_control_pool_saturation", "gauge",
            "Pool saturation at the last admission or dispatch (1: saturated).",
            Family::kSaturation);
  each_flow("inference_extension_flow_control_queue_size", "gauge",
            "Requests waiting, per priority band.", Family::kQueueSize);
  each_flow("infergate_flow_control_queue_bytes", "gauge",
            "Bytes of the requests waiting, per priority band.", Family::kQueueBytes);
  each_flow("infergate_flow_control_shed_total", "counter",
            "Requests refused by flow control, by priority and reason.", Family::kShed);
  each_flow("inference_extension_flow_control_request_queue_duration_seconds", "histogram",
            "Time in flow control, by priority and outcome.", Family::kQueueDuration);
}

}  // namespace infergate::gateway

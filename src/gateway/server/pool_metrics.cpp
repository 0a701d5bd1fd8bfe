#include "gateway/server/pool_metrics.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <initializer_list>
#include <optional>
#include <set>

#include "gateway/datastore/availability.hpp"
#include "gateway/flowcontrol/flow_controller.hpp"
#include "gateway/scheduling/framework/plugin_latency.hpp"
#include "gateway/scheduling/framework/prefix_match_metrics.hpp"
#include "gateway/scheduling/framework/scheduler_attempts.hpp"
#include "gateway/scheduling/prefix/prefix_index.hpp"
#include "metrics/prometheus_writer.hpp"

namespace infergate::gateway {

using metrics::LabelSet;
using metrics::MetricType;

namespace {

// Flow control's families: each upstream one under GIE's name and llm-d's (HELP texts as each
// has them), then ours.
void render_flow_control(const flowcontrol::FlowControl* flow_control,
                         metrics::PrometheusWriter& w) {
  std::vector<const flowcontrol::FlowController*> flows;
  if (flow_control)
    flow_control->for_each([&](const flowcontrol::FlowController& f) { flows.push_back(&f); });
  using Family = flowcontrol::FlowController::Family;
  const auto each_flow = [&](std::string_view name, MetricType type, std::string_view help,
                             Family f) {
    w.family(name, type, help);
    for (const auto* flow : flows) flow->render(w, f, name);
  };
  const auto both = [&](std::string_view suffix, MetricType type, std::string_view help, Family f) {
    each_flow("inference_extension_" + std::string(suffix), type, help, f);
    each_flow("llm_d_epp_" + std::string(suffix), type, help, f);
  };
  constexpr std::string_view kQueueDurationHelp =
      "[ALPHA] Distribution of total time requests spend in the Flow Control layer (from enqueue "
      "to final outcome).";
  both("flow_control_request_queue_duration_seconds", MetricType::kHistogram, kQueueDurationHelp,
       Family::kQueueDuration);
  both("flow_control_queue_size", MetricType::kGauge,
       "[ALPHA] Current number of requests actively held in the Flow Control queue.",
       Family::kQueueSize);
  both("flow_control_queue_bytes", MetricType::kGauge,
       "[ALPHA] Current total size in bytes of requests actively held in the Flow Control queue.",
       Family::kQueueBytes);
  each_flow("inference_extension_flow_control_pool_saturation", MetricType::kGauge,
            "[ALPHA] Current saturation level of the inference pool (0.0 = empty, 1.0 = fully "
            "saturated).",
            Family::kSaturation);
  each_flow("llm_d_epp_flow_control_pool_saturation", MetricType::kGauge,
            "[ALPHA] Pool saturation signal gating Flow Control dispatch. 1.0 is the gating set "
            "point; values above 1.0 indicate the magnitude of oversubscription past it. An empty "
            "pool reads as 1.0. With the default utilization detector, endpoints with missing or "
            "stale metrics score as fully saturated (fail-closed; see "
            "flow_control_stale_endpoints).",
            Family::kSaturation);
  each_flow("llm_d_epp_flow_control_requests_total", MetricType::kCounter,
            "[ALPHA] Total number of requests processed by the Flow Control layer.",
            Family::kRequests);
  // Ours: the reason behind RejectedCapacity and EvictedTTL (saturated, band_full, queue_full,
  // allowance_expired, ttl_expired), which upstream's outcomes do not tell apart. (Our former
  // infergate_flow_control_queue_bytes is gone: upstream's queue_bytes summed by pool and
  // priority is the same series.)
  each_flow("infergate_flow_control_shed_total", MetricType::kCounter,
            "Requests refused by flow control, by priority and reason.", Family::kShed);

  // Upstream's detector is a plugin whose label is its name; the default one's is its type.
  constexpr std::string_view kStale = "llm_d_epp_flow_control_stale_endpoints";
  w.family(kStale, MetricType::kGauge,
           "[ALPHA] Number of candidate endpoints whose metrics are missing or older than the "
           "staleness threshold, as of the most recent saturation evaluation. Recorded by the "
           "utilization saturation detector, which scores these endpoints as fully saturated in "
           "flow_control_pool_saturation (fail-closed): a nonzero value during a dispatch stall "
           "indicates a metrics collection problem rather than genuine overload.");
  if (flow_control) {
    std::size_t stale = 0;  // over every pool: upstream's picker has one
    for (const auto* flow : flows) stale += flow->stale_endpoints();
    w.sample(kStale, LabelSet{{"detector", "utilization-detector"}}, static_cast<double>(stale));
  }

  // The enqueue's HELP text is the golden file's (tests/fixtures/metrics/gie-epp-v1.5.0/
  // flow_control_enqueue_duration_seconds_metric), which repeats the queue duration's; GIE's
  // code and llm-d say "Distribution of time taken to enqueue requests into the Flow Control
  // layer.", which llm-d's name keeps.
  const flowcontrol::FlowTimings* timings = flow_control ? &flow_control->timings() : nullptr;
  const auto enqueue = [&](std::string_view name, std::string_view help) {
    w.family(name, MetricType::kHistogram, help);
    if (timings) timings->render_enqueue(w, name);
  };
  enqueue("inference_extension_flow_control_request_enqueue_duration_seconds", kQueueDurationHelp);
  enqueue("llm_d_epp_flow_control_request_enqueue_duration_seconds",
          "[ALPHA] Distribution of time taken to enqueue requests into the Flow Control layer.");
  for (const std::string_view name :
       {"inference_extension_flow_control_dispatch_cycle_duration_seconds",
        "llm_d_epp_flow_control_dispatch_cycle_duration_seconds"}) {
    w.family(name, MetricType::kHistogram,
             "[ALPHA] Distribution of time taken for each internal dispatch cycle in the Flow "
             "Control layer.");
    if (timings) timings->render_dispatch_cycles(w, name);
  }
}

}  // namespace

void render_pool_metrics(const Snapshot& snap, TimePoint now, Duration staleness,
                         const PoolComponents& components, std::string& out) {
  metrics::PrometheusWriter w(out);
  const auto& pools = snap.config->pools;
  // Over the pool's freshly scraped endpoints: sums and sums of squares (standard deviation).
  struct PoolSummary {
    double kv = 0, queue = 0, running = 0;
    double kv2 = 0, queue2 = 0, running2 = 0;
    int fresh = 0, ready = 0;
  };
  std::vector<PoolSummary> summary(pools.size());
  std::vector<LabelSet> pool_labels;             // upstream's: name="<pool>"
  std::vector<std::vector<LabelSet>> ep_labels;  // ours: pool, endpoint, address
  for (std::size_t p = 0; p < pools.size(); ++p) {
    pool_labels.push_back(LabelSet{{"name", pools[p].name()}});
    ep_labels.emplace_back();
    const auto view = snap.pools[p]->view.load(std::memory_order_acquire);
    for (std::size_t i = 0; i < snap.pools[p]->endpoints.size(); ++i) {
      const auto& ep = snap.pools[p]->endpoints[i];
      ep_labels[p].push_back(LabelSet{
          {"pool", pools[p].name()}, {"endpoint", ep->spec.name}, {"address", ep->address}});
      const auto sample = ep->latest.load(std::memory_order_acquire);
      const bool fresh = sample && now - sample->scraped_at <= staleness;
      if (usable_for_picking(view.get(), i, *ep, now)) ++summary[p].ready;
      if (!fresh) continue;
      PoolSummary& s = summary[p];
      const double kv = sample->metrics.kv_usage.value_or(0);
      ++s.fresh;
      s.kv += kv;
      s.kv2 += kv * kv;
      s.queue += sample->metrics.waiting;
      s.queue2 += sample->metrics.waiting * sample->metrics.waiting;
      s.running += sample->metrics.running;
      s.running2 += sample->metrics.running * sample->metrics.running;
    }
  }
  // Upstream's pool families (Inference Extension v1.5.0 `inference_pool_*`, llm-d router
  // v0.10.0 `llm_d_epp_*`), with their HELP texts.
  const auto per_pool = [&](std::initializer_list<std::string_view> names, std::string_view help,
                            auto value) {
    for (const std::string_view name : names) {
      w.family(name, MetricType::kGauge, help);
      for (std::size_t p = 0; p < pools.size(); ++p)
        w.sample(name, pool_labels[p], value(summary[p]));
    }
  };
  const auto mean = [](double PoolSummary::*sum) {
    return [sum](const PoolSummary& s) { return s.fresh > 0 ? s.*sum / s.fresh : 0.0; };
  };
  const auto std_dev = [](double PoolSummary::*sum, double PoolSummary::*squares) {
    return [=](const PoolSummary& s) {
      if (s.fresh == 0) return 0.0;
      const double m = s.*sum / s.fresh;
      return std::sqrt(std::max(0.0, s.*squares / s.fresh - m * m));
    };
  };
  per_pool(
      {"inference_pool_average_kv_cache_utilization", "llm_d_epp_average_kv_cache_utilization"},
      "[ALPHA] The average kv cache utilization for an inference server pool.",
      mean(&PoolSummary::kv));
  per_pool({"inference_pool_average_queue_size", "llm_d_epp_average_queue_size"},
           "[ALPHA] The average number of requests pending in the model server queue.",
           mean(&PoolSummary::queue));
  per_pool({"inference_pool_average_running_requests", "llm_d_epp_average_running_requests"},
           "[ALPHA] The average number of running requests across model servers in the pool.",
           mean(&PoolSummary::running));
  per_pool({"llm_d_epp_std_dev_kv_cache_utilization"},
           "[ALPHA] The standard deviation kv cache utilization for an inference server pool.",
           std_dev(&PoolSummary::kv, &PoolSummary::kv2));
  per_pool({"llm_d_epp_std_dev_queue_size"},
           "[ALPHA] The standard deviation number of requests pending in the model server queue.",
           std_dev(&PoolSummary::queue, &PoolSummary::queue2));
  per_pool({"llm_d_epp_std_dev_running_requests"},
           "[ALPHA] The standard deviation number of running requests across model servers in "
           "the pool.",
           std_dev(&PoolSummary::running, &PoolSummary::running2));
  // Ready: in picking (scraping healthy, not ejected).
  const auto ready = [](const PoolSummary& s) { return double(s.ready); };
  per_pool({"inference_pool_ready_pods"},
           "[ALPHA] The number of ready pods in the inference server pool.", ready);
  per_pool({"llm_d_epp_ready_endpoints"},
           "[ALPHA] The number of ready endpoints in the inference server pool.", ready);
  const auto queue_per_endpoint = [&](std::string_view name, std::string_view help,
                                      std::string_view endpoint_label) {
    w.family(name, MetricType::kGauge, help);
    for (std::size_t p = 0; p < pools.size(); ++p)
      for (const auto& ep : snap.pools[p]->endpoints)
        if (const auto sample = ep->latest.load(std::memory_order_acquire))
          w.sample(name, LabelSet(pool_labels[p]).add(endpoint_label, ep->spec.name),
                   sample->metrics.waiting);
  };
  queue_per_endpoint("inference_pool_per_pod_queue_size",
                     "[ALPHA] The total number of requests pending in the model server queue for "
                     "each underlying pod.",
                     "model_server_pod");
  queue_per_endpoint("llm_d_epp_per_endpoint_queue_size",
                     "[ALPHA] The total number of requests pending in the model server queue for "
                     "each underlying endpoint.",
                     "model_server_endpoint");

  const auto per_endpoint = [&](std::string_view name, MetricType type, std::string_view help,
                                auto value) {
    w.family(name, type, help);
    for (std::size_t p = 0; p < pools.size(); ++p)
      for (std::size_t i = 0; i < snap.pools[p]->endpoints.size(); ++i)
        w.sample(name, ep_labels[p][i], value(*snap.pools[p]->endpoints[i]));
  };
  per_endpoint("infergate_endpoint_in_flight_requests", MetricType::kGauge,
               "Requests in flight per endpoint (the gateway's count).", [](const Endpoint& e) {
                 return double(e.in_flight.load(std::memory_order_relaxed));
               });
  per_endpoint(
      "infergate_endpoint_in_flight_tokens", MetricType::kGauge,
      "Prompt estimate plus expected output of the requests in flight per endpoint.",
      [](const Endpoint& e) { return double(e.in_flight_tokens.load(std::memory_order_relaxed)); });
  // What the last scrape said; an endpoint never scraped has no sample.
  const auto scraped = [&](std::string_view name, std::string_view help, auto value) {
    w.family(name, MetricType::kGauge, help);
    for (std::size_t p = 0; p < pools.size(); ++p)
      for (std::size_t i = 0; i < snap.pools[p]->endpoints.size(); ++i)
        if (const auto s = snap.pools[p]->endpoints[i]->latest.load(std::memory_order_acquire))
          if (const std::optional<double> v = value(*s)) w.sample(name, ep_labels[p][i], *v);
  };
  scraped("infergate_endpoint_queue_size", "Engine queue (waiting requests), as last scraped.",
          [](const EndpointSample& s) { return std::optional(s.metrics.waiting); });
  scraped("infergate_endpoint_running_requests", "Engine running batch, as last scraped.",
          [](const EndpointSample& s) { return std::optional(s.metrics.running); });
  scraped("infergate_endpoint_kv_cache_utilization",
          "KV-cache use (0..1), as last scraped; absent for engines that do not report it.",
          [](const EndpointSample& s) { return s.metrics.kv_usage; });
  scraped("infergate_endpoint_scrape_age_seconds", "Seconds since the last successful scrape.",
          [&](const EndpointSample& s) {
            return std::optional(std::chrono::duration<double>(now - s.scraped_at).count());
          });
  per_endpoint(
      "infergate_endpoint_requests_total", MetricType::kCounter, "Attempts sent to the endpoint.",
      [](const Endpoint& e) { return double(e.requests.load(std::memory_order_relaxed)); });
  per_endpoint("infergate_endpoint_scrape_healthy", MetricType::kGauge,
               "1 while the endpoint's /metrics scrapes succeed.", [](const Endpoint& e) {
                 return e.scrape_healthy.load(std::memory_order_relaxed) ? 1.0 : 0.0;
               });
  per_endpoint("infergate_endpoint_scrape_failures_total", MetricType::kCounter,
               "Failed /metrics scrapes.", [](const Endpoint& e) {
                 return double(e.scrape_failures_total.load(std::memory_order_relaxed));
               });
  per_endpoint("infergate_endpoint_ejected", MetricType::kGauge,
               "1 while the endpoint is ejected for failing requests.",
               [&](const Endpoint& e) { return ejected(e, now) ? 1.0 : 0.0; });
  per_endpoint("infergate_endpoint_ejections_total", MetricType::kCounter,
               "Times the endpoint was ejected for failing requests.", [](const Endpoint& e) {
                 return double(e.outlier.ejections_total.load(std::memory_order_relaxed));
               });

  // Every failed scrape, as upstream's data layer counts a poll error of its metrics source.
  const auto poll_errors =
      double(scrape_failures_of_all_endpoints().load(std::memory_order_relaxed));
  w.family("llm_d_epp_datalayer_poll_errors_total", MetricType::kCounter,
           "[ALPHA] Data-source poll errors per source type.");
  w.sample("llm_d_epp_datalayer_poll_errors_total",
           LabelSet{{"source_type", "metrics-data-source"}}, poll_errors);

  std::size_t entries = 0, bytes = 0;
  if (components.prefix_indexes) {
    const auto s = components.prefix_indexes->stats();
    entries = s.entries;
    bytes = s.memory_bytes;
  }
  scheduling::PrefixMatchMetrics::instance().render(w, entries);
  w.family("infergate_prefix_index_memory_bytes", MetricType::kGauge,
           "Memory held by the prefix indexes.");
  w.sample("infergate_prefix_index_memory_bytes", static_cast<double>(bytes));
  scheduling::SchedulerLatency::instance().render(w);
  scheduling::SchedulerAttempts::instance().render(w);
  render_flow_control(components.flow_control, w);
}

}  // namespace infergate::gateway

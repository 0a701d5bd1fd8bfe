#include "gateway/server/admin.hpp"

#include <string>

#include "gateway/server/gateway.hpp"
#include "gateway/server/pool_metrics.hpp"
#include "metrics/prometheus_writer.hpp"

namespace infergate::gateway {
namespace net = boost::asio;

namespace {

std::string render_metrics(const Gateway& g) {
  const auto& c = g.counters();
  std::string out;
  metrics::PrometheusWriter w(out);
  const auto one = [&](std::string_view name, metrics::MetricType type, std::string_view help,
                       const auto& counter) {
    w.family(name, type, help);
    w.sample(name, static_cast<double>(counter.load(std::memory_order_relaxed)));
  };
  using metrics::MetricType;
  one("infergate_requests_total", MetricType::kCounter, "Requests answered by the gateway.",
      c.requests);
  one("infergate_request_errors_total", MetricType::kCounter,
      "Requests answered with an error status.", c.errors);
  one("infergate_requests_retried_total", MetricType::kCounter,
      "Requests tried on more than one endpoint.", c.retried);
  one("infergate_prompt_tokens_total", MetricType::kCounter,
      "Prompt tokens of answered requests (from usage).", c.prompt_tokens);
  one("infergate_output_tokens_total", MetricType::kCounter,
      "Generated tokens of answered requests (usage, or pieces counted in the stream).",
      c.output_tokens);
  one("infergate_config_reloads_total", MetricType::kCounter, "Configuration reloads applied.",
      c.reloads);
  one("infergate_config_reload_failures_total", MetricType::kCounter,
      "Configuration reloads rejected as invalid.", c.reload_failures);
  one("infergate_requests_in_flight", MetricType::kGauge, "Requests being served.", c.in_flight);
  render_pool_metrics(*g.current(), g.clock().now(), g.metrics_staleness(), out);
  return out;
}

}  // namespace

Handler make_admin_handler(Gateway& gateway) {
  return [&gateway](const ClientRequest& req, ClientResponse& res) -> net::awaitable<void> {
    ResponseHead head;
    std::string body;
    std::string_view path = req.target;
    if (auto q = path.find('?'); q != std::string_view::npos) path = path.substr(0, q);
    head.headers.emplace_back("content-type", "text/plain; charset=utf-8");
    if (path == "/healthz") {
      body = "ok\n";
    } else if (path == "/readyz") {
      body = "ready\n";
    } else if (path == "/config") {
      body = config::dump(*gateway.current()->config);
    } else if (path == "/metrics") {
      head.headers.back().second = "text/plain; version=0.0.4; charset=utf-8";
      body = render_metrics(gateway);
    } else if (path == "/reload" && req.method == "POST") {
      const bool ok = gateway.reload();
      head.status = ok ? 200 : 400;
      body = ok ? "reloaded\n" : "rejected: see the gateway's log\n";
    } else {
      head.status = 404;
      body = "not found\n";
    }
    head.content_length = body.size();
    if (co_await res.send_head(head) && co_await res.send_body(body)) co_await res.finish();
  };
}

}  // namespace infergate::gateway

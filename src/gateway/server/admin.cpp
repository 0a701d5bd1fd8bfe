#include "gateway/server/admin.hpp"

#include <string>

#include "gateway/server/gateway.hpp"
#include "gateway/server/pool_metrics.hpp"

namespace infergate::gateway {
namespace net = boost::asio;

namespace {

std::string render_metrics(const Gateway& g) {
  const auto& c = g.counters();
  std::string out;
  const auto counter = [&](const char* name, const char* help, double v,
                           const char* type = "counter") {
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n" +
           name + " " + std::to_string(v) + "\n";
  };
  counter("infergate_requests_total", "Requests answered by the gateway.",
          static_cast<double>(c.requests.load()));
  counter("infergate_request_errors_total", "Requests answered with an error status.",
          static_cast<double>(c.errors.load()));
  counter("infergate_requests_retried_total", "Requests tried on more than one endpoint.",
          static_cast<double>(c.retried.load()));
  counter("infergate_prompt_tokens_total", "Prompt tokens of answered requests (from usage).",
          static_cast<double>(c.prompt_tokens.load()));
  counter("infergate_output_tokens_total",
          "Generated tokens of answered requests (usage, or pieces counted in the stream).",
          static_cast<double>(c.output_tokens.load()));
  counter("infergate_config_reloads_total", "Configuration reloads applied.",
          static_cast<double>(c.reloads.load()));
  counter("infergate_config_reload_failures_total", "Configuration reloads rejected as invalid.",
          static_cast<double>(c.reload_failures.load()));
  counter("infergate_requests_in_flight", "Requests being served.",
          static_cast<double>(c.in_flight.load()), "gauge");
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

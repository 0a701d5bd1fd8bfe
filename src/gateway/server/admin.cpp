#include "gateway/server/admin.hpp"

#include <charconv>
#include <string>

#include "gateway/pickerclient/picker_client.hpp"
#include "gateway/server/dashboard.hpp"
#include "gateway/server/gateway.hpp"
#include "gateway/server/pool_metrics.hpp"
#include "metrics/prometheus_writer.hpp"

namespace infergate::gateway {
namespace net = boost::asio;

namespace {

// Compares the request's bearer token with `token` in time that does not depend on where they
// differ.
bool bearer_matches(const HeaderList& headers, const std::string& token) {
  std::string_view given = find_header(headers, "authorization").value_or("");
  if (!(given.starts_with("Bearer ") || given.starts_with("bearer "))) return false;
  given.remove_prefix(7);
  unsigned diff = given.size() == token.size() ? 0u : 1u;
  for (std::size_t i = 0; i < token.size(); ++i)
    diff |= static_cast<unsigned>(static_cast<unsigned char>(i < given.size() ? given[i] : 0) ^
                                  static_cast<unsigned char>(token[i]));
  return diff == 0;
}

std::string clock_seconds(const Clock& clock) {
  char text[48];
  const auto end =
      std::to_chars(text, text + sizeof text, to_seconds(clock.now()), std::chars_format::fixed, 3)
          .ptr;
  return std::string(text, end);
}

std::string render_metrics(const Gateway& g) {
  const auto& c = g.counters();
  const auto& r = g.request_counters();
  std::string out;
  metrics::PrometheusWriter w(out);
  const auto one = [&](std::string_view name, metrics::MetricType type, std::string_view help,
                       const auto& counter) {
    w.family(name, type, help);
    w.sample(name, static_cast<double>(counter.load(std::memory_order_relaxed)));
  };
  using metrics::MetricType;
  one("infergate_requests_total", MetricType::kCounter, "Requests answered by the gateway.",
      r.requests);
  one("infergate_request_errors_total", MetricType::kCounter,
      "Requests answered with an error status.", r.errors);
  one("infergate_requests_retried_total", MetricType::kCounter,
      "Requests tried on more than one endpoint.", r.retried);
  one("infergate_prompt_tokens_total", MetricType::kCounter,
      "Prompt tokens of answered requests (from usage).", r.prompt_tokens);
  one("infergate_output_tokens_total", MetricType::kCounter,
      "Generated tokens of answered requests (usage, or pieces counted in the stream).",
      r.output_tokens);
  one("infergate_config_reloads_total", MetricType::kCounter, "Configuration reloads applied.",
      c.reloads);
  one("infergate_config_reload_failures_total", MetricType::kCounter,
      "Configuration reloads rejected as invalid.", c.reload_failures);
  one("infergate_tls_certificate_reloads_total", MetricType::kCounter,
      "Client-listener TLS certificates reloaded from changed files.", c.tls_reloads);
  one("infergate_tls_certificate_reload_failures_total", MetricType::kCounter,
      "Changed client-listener TLS certificate files refused (the previous pair stays).",
      c.tls_reload_failures);
  w.family("infergate_tls_handshake_failures_total", MetricType::kCounter,
           "Client TLS handshakes that failed (untrusted certificate, plain HTTP, scanners).");
  w.sample("infergate_tls_handshake_failures_total",
           static_cast<double>(g.tls_handshake_failures()));
  one("infergate_requests_in_flight", MetricType::kGauge, "Requests being served.", r.in_flight);
  const AccessLog::Counts log = g.access_log_counts();
  w.family("infergate_access_log_lines_total", MetricType::kCounter,
           "Access log lines written (0 with the access log off).");
  w.sample("infergate_access_log_lines_total", static_cast<double>(log.written));
  w.family("infergate_access_log_dropped_total", MetricType::kCounter,
           "Access log lines dropped: the buffer was full (a slow sink) or the write failed.");
  w.sample("infergate_access_log_dropped_total", static_cast<double>(log.dropped));
  for (const std::string_view name : {"inference_extension_info", "llm_d_epp_info"}) {
    w.family(name, MetricType::kGauge,
             "[ALPHA] General information of the current build of Inference Extension.");
    w.sample(name,
             metrics::LabelSet{{"commit", INFERGATE_COMMIT}, {"build_ref", INFERGATE_BUILD_REF}},
             1);
  }
  g.request_metrics().render(w);
  if (g.pickers()) g.pickers()->stats().render(w);
  render_pool_metrics(*g.current(), g.clock().now(), g.metrics_staleness(),
                      {&g.prefix_indexes(), &g.flow_control()}, out);
  if (g.options().more_metrics) g.options().more_metrics(out);
  return out;
}

}  // namespace

bool is_loopback_listen(const std::string& address) {
  const auto colon = address.rfind(':');
  std::string host = colon == std::string::npos ? address : address.substr(0, colon);
  if (host.size() > 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
  return host == "localhost" || host == "::1" || host.starts_with("127.");
}

Handler make_admin_handler(Gateway& gateway, const AdminAccess& access) {
  return [&gateway, access](const ClientRequest& req, ClientResponse& res) -> net::awaitable<void> {
    ResponseHead head;
    std::string body;
    std::string_view path = req.target;
    if (auto q = path.find('?'); q != std::string_view::npos) path = path.substr(0, q);
    head.headers.emplace_back("content-type", "text/plain; charset=utf-8");
    const bool probe = path == "/healthz" || path == "/readyz" || path == "/metrics";
    // The live page's own files hold no data: a browser cannot send the token when it opens
    // the page, which then sends it with every request it makes (taken from #token=...).
    const bool page_file = req.method == "GET" && is_dashboard_file(path);
    if (!access.token.empty() && !(probe && access.open_probes) && !page_file &&
        !bearer_matches(req.headers, access.token)) {
      head.status = 401;
      head.headers.emplace_back("www-authenticate", "Bearer");
      body = "the admin token is required: Authorization: Bearer <token>\n";
    } else if (path == "/healthz") {
      body = "ok\n";
    } else if (path == "/readyz") {
      if (gateway.ready()) {
        body = "ready\n";
      } else {
        head.status = 503;
        body =
            "not ready: starting (the first scrape round, the first lists from Kubernetes) or "
            "draining\n";
      }
    } else if (path == "/config") {
      body = config::dump(*gateway.current()->config);
    } else if (path == "/metrics") {
      head.headers.back().second = "text/plain; version=0.0.4; charset=utf-8";
      // When the page was rendered, on the gateway's steady clock: the live page computes rates
      // with it (its own timers may run on virtual time, as in headless tests).
      head.headers.emplace_back("x-infergate-clock-seconds", clock_seconds(gateway.clock()));
      body = render_metrics(gateway);
    } else if (path == "/reload" && req.method == "POST") {
      const bool ok = gateway.reload();
      head.status = ok ? 200 : 400;
      body = ok ? "reloaded\n" : "rejected: see the gateway's log\n";
    } else if (req.method == "GET" && serve_dashboard(path, gateway.decisions(), head, body)) {
      // the page, or the decisions it shows
    } else {
      head.status = 404;
      body = "not found\n";
    }
    head.content_length = body.size();
    if (co_await res.send_head(head) && co_await res.send_body(body)) co_await res.finish();
  };
}

}  // namespace infergate::gateway

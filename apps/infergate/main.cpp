// infergate: the standalone inference gateway. See docs/configuration.md.
#include <unistd.h>

#include <boost/program_options.hpp>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <memory>
#include <mutex>
#include <thread>
#include <utility>

#include "common/process_limits.hpp"
#include "config/diagnostics.hpp"
#include "gateway/scheduling/framework/build.hpp"
#include "gateway/server/admin.hpp"
#include "gateway/server/gateway.hpp"
#include "kube/kubernetes_source.hpp"

namespace po = boost::program_options;
using namespace infergate;
using namespace infergate::gateway;

int main(int argc, char** argv) {
  // A peer that closed must not kill the process: OpenSSL's socket writes (the scraper's TLS)
  // are plain write()s, which raise SIGPIPE (Asio's own sends never do).
  std::signal(SIGPIPE, SIG_IGN);
  GatewayOptions o;
  long request_read_ms = 0, idle_ms = 0, write_ms = 0, connect_ms = 0, pool_idle_ms = 0,
       dns_refresh_ms = 0, dns_timeout_ms = 0, response_ms = 0, body_idle_ms = 0, drain_ms = 0;
  long scrape_interval_ms = 0, scrape_timeout_ms = 0, staleness_ms = 0, ejection_ms = 0;
  long queue_ttl_ms = 0, allowance_ms = 0;
  bool no_flow_control = false;
  bool no_watch = false, check_only = false;
  std::string admin_token_file;
  tls::ServerFiles tls_files;
  std::string tls_min_version;
  long tls_reload_ms = 0;
  std::string mode = "gateway";
  bool kubernetes = false;
  std::string kubeconfig, kube_context, watch_namespace, gateway_ref, pool_name, pool_namespace,
      picker_config_map, lease_namespace, lease_name;
  bool no_status = false;
  long lease_duration_ms = 15000;
  long kube_sync_ms = 30000;
  long picker_timeout_ms = o.picker_client.decision_timeout.count();
  bool plaintext = false;
  bool access_log = true, no_access_log = false;
  std::string access_log_format = "json";
  po::options_description desc(
      "infergate: an inference gateway for OpenAI-API model servers\n\n"
      "Usage: infergate --config FILE [--config FILE ...] [options]\n\nOptions");
  // clang-format off
  desc.add_options()
    ("help,h", "show this help")
    ("config,c", po::value(&o.config_files)->multitoken(),
     "configuration file(s): InferencePool, InferenceModel, InferenceObjective, HTTPRoute, "
     "StaticEndpoints (multi-document YAML); reloaded on SIGHUP and when a file changes")
    ("check-config", po::bool_switch(&check_only), "validate the configuration, print what was loaded, exit")
    ("mode", po::value(&mode)->default_value(mode),
     "gateway: an HTTP proxy on --listen; epp: the endpoint picker behind Envoy (ext_proc over "
     "gRPC on --grpc-listen; docs/extproc.md)")
    ("grpc-listen", po::value(&o.extproc.listen)->default_value(o.extproc.listen),
     "epp: the ext_proc port, host:port; TLS unless --plaintext (--tls-cert-file and "
     "--tls-key-file, or a generated self-signed certificate)")
    ("grpc-health-listen", po::value(&o.extproc.health_listen)->default_value(o.extproc.health_listen),
     "epp: plaintext grpc.health.v1 port, host:port (empty: none)")
    ("health-checking", po::bool_switch(&o.extproc.health_on_extproc_port),
     "epp: grpc.health.v1 on the ext_proc port too (what an Envoy cluster health check probes)")
    ("kubernetes", po::bool_switch(&kubernetes),
     "read pools, models, objectives, routes and Pods from the Kubernetes API server (in a Pod: "
     "its service account; else --kubeconfig), next to any --config files (docs/kubernetes.md)")
    ("kubeconfig", po::value(&kubeconfig), "kubeconfig file for --kubernetes (implies it)")
    ("kube-context", po::value(&kube_context), "the kubeconfig's context (default: its current one)")
    ("watch-namespace", po::value(&watch_namespace),
     "--kubernetes: watch this namespace only (default: every namespace)")
    ("gateway", po::value(&gateway_ref),
     "--kubernetes: serve the HTTPRoutes whose parentRefs name this Gateway (NAMESPACE/NAME; "
     "default: every HTTPRoute)")
    ("pool-name", po::value(&pool_name),
     "epp with --kubernetes: serve this InferencePool alone, with the objectives and rewrites "
     "that name it and the Pods it selects, for every model (upstream's --pool-name)")
    ("pool-namespace", po::value(&pool_namespace),
     "--pool-name's namespace (default: default); also the namespace watched unless "
     "--watch-namespace says otherwise")
    ("picker-config-map", po::value(&picker_config_map),
     "--kubernetes: the ConfigMap ([NAMESPACE/]NAME) whose data holds the EndpointPickerConfig, "
     "watched and reloaded like the rest (default namespace: --pool-namespace, --watch-namespace "
     "or default)")
    ("no-status", po::bool_switch(&no_status),
     "--kubernetes with --gateway: do not write InferencePool and HTTPRoute status (written by "
     "default, by the replica holding the Lease)")
    ("lease-namespace", po::value(&lease_namespace),
     "the status Lease's namespace (default: $POD_NAMESPACE, else the Gateway's)")
    ("lease-name", po::value(&lease_name),
     "the status Lease's name (default: infergate-status-<the Gateway's name>)")
    ("lease-duration-ms", po::value(&lease_duration_ms)->default_value(lease_duration_ms),
     "how long a silent Lease holder keeps it before another replica takes over")
    ("kube-sync-timeout-ms", po::value(&kube_sync_ms)->default_value(kube_sync_ms),
     "--kubernetes: how long start-up waits for the first lists before serving with what it has")
    ("plaintext", po::bool_switch(&plaintext), "epp: the ext_proc port without TLS (upstream's --secure-serving=false)")
    ("fallback-endpoints", po::value(&o.extproc.stream.fallback_endpoints)->default_value(0),
     "epp: endpoints named after the primary in the destination, comma-joined, for a client that "
     "tries them in order (InferGate's gateway; not Envoy's ORIGINAL_DST cluster)")
    ("listen", po::value(&o.listen)->default_value(o.listen), "client listener, host:port (port 0: any free port)")
    ("admin-listen", po::value(&o.admin_listen)->default_value(o.admin_listen),
     "admin listener: /healthz /readyz /metrics /config, POST /reload")
    ("workers", po::value(&o.workers)->default_value(0), "worker threads, each with its own event loop (0: one per core)")
    ("max-body-bytes", po::value(&o.limits.max_body_bytes)->default_value(o.limits.max_body_bytes),
     "largest request body accepted (413 above)")
    ("max-header-bytes", po::value(&o.limits.max_header_bytes)->default_value(o.limits.max_header_bytes),
     "largest request header block (431 above)")
    ("request-read-timeout-ms", po::value(&request_read_ms)->default_value(o.limits.request_read_timeout.count()),
     "time to receive one request's headers and body (408 after)")
    ("idle-timeout-ms", po::value(&idle_ms)->default_value(o.limits.idle_timeout.count()),
     "how long an idle keep-alive client connection is kept")
    ("client-write-timeout-ms", po::value(&write_ms)->default_value(o.limits.write_timeout.count()),
     "longest wait for a client to take a write of its response (then it is cut off and its "
     "upstream request cancelled)")
    ("max-connections", po::value(&o.max_connections)->default_value(o.max_connections),
     "client connections open at once, over all workers; at the limit new ones wait in the "
     "listen backlog until one closes")
    ("upstream-connect-timeout-ms", po::value(&connect_ms)->default_value(o.upstream.connect.count()),
     "time to connect to a model server (then the next endpoint is tried)")
    ("upstream-response-timeout-ms", po::value(&response_ms)->default_value(o.upstream.response_head.count()),
     "time from sending a request to the model server's response head (504 after); a non-streamed "
     "completion sends its head only when it is done")
    ("upstream-idle-timeout-ms", po::value(&body_idle_ms)->default_value(o.upstream.body_idle.count()),
     "longest pause inside a model server's response body")
    ("upstream-retries", po::value(&o.handler.max_retries)->default_value(o.handler.max_retries),
     "other endpoints tried after a connect failure, a connection closed before the response, "
     "or a 429/500/502/503/504, while the client has received nothing")
    ("scheduling-profile", po::value(&o.scheduling.default_profile)->default_value(o.scheduling.default_profile),
     "endpoint-picking profile of pools that name none when the configuration has no "
     "EndpointPickerConfig: default, gie-default, least-request, round-robin, random, sglang-cache-aware")
    ("scrape-interval-ms", po::value(&scrape_interval_ms)->default_value(o.scrape.interval.count()),
     "how often each endpoint's /metrics is scraped (0: never; no endpoint is then stale)")
    ("scrape-timeout-ms", po::value(&scrape_timeout_ms)->default_value(o.scrape.timeout.count()),
     "bound on a whole scrape (connect, request, page)")
    ("scrape-failures-to-unhealthy", po::value(&o.scrape.failures_to_unhealthy)->default_value(o.scrape.failures_to_unhealthy),
     "consecutive failed scrapes that take an endpoint out of picking (a refused connection: at once)")
    ("metrics-staleness-ms", po::value(&staleness_ms)->default_value(
        std::chrono::duration_cast<std::chrono::milliseconds>(o.scheduling.metrics_staleness).count()),
     "metrics older than this count as saturated (an EndpointPickerConfig's saturationDetector overrides)")
    ("outlier-consecutive-failures", po::value(&o.handler.outlier.consecutive_failures)->default_value(o.handler.outlier.consecutive_failures),
     "failed requests in a row (5xx, resets, connect errors) that eject an endpoint (0: never)")
    ("outlier-base-ejection-ms", po::value(&ejection_ms)->default_value(o.handler.outlier.base_ejection.count()),
     "first ejection's length; each further ejection of the same endpoint adds as much (at most 300 s)")
    ("outlier-max-ejected-share", po::value(&o.handler.outlier.max_ejected_share)->default_value(o.handler.outlier.max_ejected_share),
     "largest share of a pool ejected at once (one endpoint may always be; never the last)")
    ("no-flow-control", po::bool_switch(&no_flow_control), "admit every request at once (no queueing, no shedding)")
    ("sheddable-threshold", po::value(&o.flow.sheddable_threshold)->default_value(o.flow.sheddable_threshold),
     "pool saturation from which negative-priority (Sheddable) requests get 429")
    ("standard-threshold", po::value(&o.flow.standard_threshold)->default_value(o.flow.standard_threshold),
     "pool saturation from which priority-0 (Standard) requests get 429")
    ("dispatch-threshold", po::value(&o.flow.dispatch_threshold)->default_value(o.flow.dispatch_threshold),
     "pool saturation below which positive-priority (Critical) and queued requests go")
    ("queue-ttl-ms", po::value(&queue_ttl_ms)->default_value(
        std::chrono::duration_cast<std::chrono::milliseconds>(o.flow.queue_ttl).count()),
     "longest wait in the queue (then 503 \"request timed out in queue\")")
    ("standard-allowance-ms", po::value(&allowance_ms)->default_value(0),
     "how long Standard and Sheddable requests may wait for capacity before their 429 (0: shed at once)")
    ("saturation-queue-depth", po::value(&o.flow.saturation.queue_depth)->default_value(o.flow.saturation.queue_depth),
     "utilisation rule: an endpoint with this many waiting requests counts as saturated")
    ("saturation-kv-threshold", po::value(&o.flow.saturation.kv_threshold)->default_value(o.flow.saturation.kv_threshold),
     "utilisation rule: an endpoint at this KV-cache use counts as saturated")
    ("max-in-flight-per-endpoint", po::value(&o.flow.saturation.max_in_flight_per_endpoint)->default_value(0),
     "concurrency rule: the pool is saturated at this many gateway requests in flight per endpoint (0: off)")
    ("queue-band-max-requests", po::value(&o.flow.band_limits.max_requests)->default_value(o.flow.band_limits.max_requests),
     "requests one priority band of a pool's queue holds (429 above)")
    ("queue-band-max-bytes", po::value(&o.flow.band_limits.max_bytes)->default_value(o.flow.band_limits.max_bytes),
     "request bytes one priority band holds (429 above)")
    ("queue-max-requests", po::value(&o.flow.queue_limits.max_requests)->default_value(o.flow.queue_limits.max_requests),
     "requests a pool's queue holds over all bands (429 above)")
    ("queue-max-bytes", po::value(&o.flow.queue_limits.max_bytes)->default_value(o.flow.queue_limits.max_bytes),
     "request bytes a pool's queue holds over all bands (429 above)")
    ("upstream-pool-idle-timeout-ms", po::value(&pool_idle_ms)->default_value(o.upstream.pool_idle.count()),
     "an idle keep-alive connection to a model server is not reused after this; keep it below the "
     "server's own keep-alive timeout (uvicorn's default is 5 s)")
    ("dns-refresh-ms", po::value(&dns_refresh_ms)->default_value(o.upstream.dns_refresh.count()),
     "how often a model server's host name is looked up again (the last good answer is kept "
     "when a lookup fails)")
    ("dns-timeout-ms", po::value(&dns_timeout_ms)->default_value(o.upstream.dns_timeout.count()),
     "bound on one host-name lookup")
    ("max-idle-upstream-connections", po::value(&o.max_idle_upstream_per_endpoint)->default_value(o.max_idle_upstream_per_endpoint),
     "idle keep-alive connections kept per model server and worker")
    ("drain-timeout-ms", po::value(&drain_ms)->default_value(o.drain_timeout.count()),
     "on SIGTERM, how long in-flight requests may take to finish")
    ("no-watch-config", po::bool_switch(&no_watch), "reload only on SIGHUP, not when a file changes")
    ("admin-token-file", po::value(&admin_token_file),
     "file holding the admin listener's bearer token; required when --admin-listen is not loopback")
    ("admin-open-probes", po::bool_switch(&o.admin_access.open_probes),
     "/healthz, /readyz and /metrics answer without the admin token")
    ("trust-client-claims", po::bool_switch(&o.handler.trust_client_claims),
     "honour any priority (x-gateway-inference-objective) and fairness (x-gateway-inference-fairness-id) "
     "claim without an API key; off: a claim may only lower a priority, and flows are not chosen")
    ("picker-plaintext", po::bool_switch(&o.picker_client.plaintext),
     "gateway: reach the endpoint pickers pools name (endpointPickerRef) without TLS")
    ("picker-allow-self-signed", po::bool_switch(&o.picker_client.allow_self_signed),
     "gateway: accept any certificate from those pickers (upstream's picker makes a self-signed one)")
    ("picker-ca-file", po::value(&o.picker_client.ca_file),
     "gateway: PEM roots those pickers' certificates must chain to (default: the system's)")
    ("picker-timeout-ms", po::value(&picker_timeout_ms)->default_value(picker_timeout_ms),
     "gateway: how long a pool's endpoint picker may take to decide; slower counts as failed "
     "(FailOpen: InferGate picks; FailClose: 503)")
    ("expose-endpoint-header", po::bool_switch(&o.handler.expose_endpoint),
     "tell clients which model server answered (x-gateway-destination-endpoint-served)")
    ("tls-cert-file", po::value(&tls_files.cert_file),
     "PEM certificate chain of the client listener (with --tls-key-file: the listener speaks TLS only)")
    ("tls-key-file", po::value(&tls_files.key_file), "PEM private key of --tls-cert-file")
    ("tls-min-version", po::value(&tls_min_version)->default_value("1.2"),
     "oldest TLS version the client listener accepts: 1.2 or 1.3")
    ("tls-reload-interval-ms", po::value(&tls_reload_ms)->default_value(o.tls_reload_interval.count()),
     "how often the certificate files are read again (a changed good pair serves new connections)")
    ("access-log", po::value(&access_log)->default_value(true)->implicit_value(true),
     "one line per request on standard output (docs/observability.md); --access-log=false: none")
    ("no-access-log", po::bool_switch(&no_access_log), "no access log (as --access-log=false)")
    ("access-log-format", po::value(&access_log_format)->default_value(access_log_format),
     "json (one object per line) or text (key=value pairs)")
    ("access-log-file", po::value(&o.access_log.file),
     "append the access log to this file instead of standard output");
  // clang-format on
  po::variables_map vm;
  try {
    po::store(po::parse_command_line(argc, argv, desc), vm);
    po::notify(vm);
  } catch (const std::exception& e) {
    std::cerr << "infergate: " << e.what() << "\n(see infergate --help)\n";
    return 2;
  }
  if (vm.count("help")) {
    std::cout << desc << "\n";
    return 0;
  }
  if (mode == "epp") {
    o.mode = ServeMode::kEndpointPicker;
  } else if (mode != "gateway") {
    std::cerr << "infergate: --mode must be gateway or epp, got " << mode << "\n";
    return 2;
  }
  if (!kubeconfig.empty()) kubernetes = true;
  if (!pool_namespace.empty() && pool_name.empty()) {
    std::cerr << "infergate: --pool-namespace needs --pool-name\n";
    return 2;
  }
  if (!pool_name.empty() && (o.mode != ServeMode::kEndpointPicker || !kubernetes)) {
    std::cerr << "infergate: --pool-name needs --mode=epp and --kubernetes\n";
    return 2;
  }
  if (!picker_config_map.empty() && !kubernetes) {
    std::cerr << "infergate: --picker-config-map needs --kubernetes\n";
    return 2;
  }
  if (!pool_name.empty() && pool_namespace.empty()) pool_namespace = "default";
  if (!pool_name.empty() && watch_namespace.empty()) watch_namespace = pool_namespace;
  if (o.config_files.empty() && !kubernetes) {
    std::cerr << "infergate: --config or --kubernetes is required (see infergate --help)\n";
    return 2;
  }
  o.limits.request_read_timeout = std::chrono::milliseconds(request_read_ms);
  o.limits.idle_timeout = std::chrono::milliseconds(idle_ms);
  o.limits.write_timeout = std::chrono::milliseconds(write_ms);
  o.upstream.connect = std::chrono::milliseconds(connect_ms);
  o.upstream.pool_idle = std::chrono::milliseconds(pool_idle_ms);
  o.upstream.dns_refresh = std::chrono::milliseconds(dns_refresh_ms);
  o.upstream.dns_timeout = std::chrono::milliseconds(dns_timeout_ms);
  o.scrape.dns_refresh = o.upstream.dns_refresh;
  o.upstream.response_head = std::chrono::milliseconds(response_ms);
  o.upstream.body_idle = std::chrono::milliseconds(body_idle_ms);
  o.drain_timeout = std::chrono::milliseconds(drain_ms);
  o.watch_config = !no_watch;
  o.scrape.interval = std::chrono::milliseconds(scrape_interval_ms);
  o.scrape.timeout = std::chrono::milliseconds(scrape_timeout_ms);
  o.scheduling.metrics_staleness = std::chrono::milliseconds(staleness_ms);
  o.handler.outlier.base_ejection = std::chrono::milliseconds(ejection_ms);
  o.scheduling.scraping = o.scrape.interval.count() > 0;
  o.flow.enabled = !no_flow_control;
  o.flow.queue_ttl = std::chrono::milliseconds(queue_ttl_ms);
  o.flow.standard_allowance = std::chrono::milliseconds(allowance_ms);
  if (!admin_token_file.empty()) {
    std::ifstream in(admin_token_file);
    std::string token;
    if (!in || !std::getline(in, token)) {
      std::cerr << "infergate: cannot read --admin-token-file " << admin_token_file << "\n";
      return 2;
    }
    while (!token.empty() && (token.back() == '\r' || token.back() == ' ')) token.pop_back();
    if (token.size() < 16) {
      std::cerr << "infergate: the admin token in " << admin_token_file
                << " is shorter than 16 characters\n";
      return 2;
    }
    o.admin_access.token = token;
  }
  if (o.admin_access.token.empty() && !is_loopback_listen(o.admin_listen)) {
    std::cerr << "infergate: --admin-listen " << o.admin_listen
              << " is not loopback: give --admin-token-file (see docs/security.md)\n";
    return 2;
  }

  o.access_log.enabled = access_log && !no_access_log;
  if (access_log_format == "json" || access_log_format == "text") {
    o.access_log.format =
        access_log_format == "json" ? AccessLogFormat::kJson : AccessLogFormat::kText;
  } else {
    std::cerr << "infergate: --access-log-format must be json or text, got " << access_log_format
              << "\n";
    return 2;
  }
  if (o.access_log.enabled && !o.access_log.file.empty()) {
    std::string error;
    if (!file_sink(o.access_log.file, error)) {
      std::cerr << "infergate: --access-log-file: " << error << "\n";
      return 2;
    }
  }

  if (tls_files.cert_file.empty() != tls_files.key_file.empty()) {
    std::cerr << "infergate: --tls-cert-file and --tls-key-file go together\n";
    return 2;
  }
  const auto min_version = tls::parse_version(tls_min_version);
  if (!min_version) {
    std::cerr << "infergate: --tls-min-version must be 1.2 or 1.3, got " << tls_min_version << "\n";
    return 2;
  }
  if (tls_reload_ms <= 0) {
    std::cerr << "infergate: --tls-reload-interval-ms must be positive\n";
    return 2;
  }
  o.tls_reload_interval = std::chrono::milliseconds(tls_reload_ms);
  if (picker_timeout_ms <= 0) {
    std::cerr << "infergate: --picker-timeout-ms must be positive\n";
    return 2;
  }
  o.picker_client.decision_timeout = std::chrono::milliseconds(picker_timeout_ms);
  o.extproc.plaintext = plaintext;
  if (o.mode == ServeMode::kEndpointPicker) {
    // The certificate serves the ext_proc port; Envoy's claims about priority, fairness and
    // the model to send are trusted, as upstream's picker trusts its Gateway.
    o.extproc.cert_file = std::exchange(tls_files.cert_file, "");
    o.extproc.key_file = std::exchange(tls_files.key_file, "");
    o.handler.trust_client_claims = true;
  }
  if (!tls_files.cert_file.empty()) {
    tls_files.min_version = *min_version;
    try {
      o.listener_tls =
          std::make_shared<tls::ServerCredentials>(tls_files, std::chrono::system_clock::now());
    } catch (const std::exception& e) {
      std::cerr << "infergate: " << e.what() << "\n";
      return 1;
    }
  }

  // The API server's objects, when asked for: listed before the first configuration is built.
  std::unique_ptr<kube::KubernetesSource> cluster;
  if (kubernetes) {
    auto access = kubeconfig.empty()
                      ? kube::in_cluster([](const std::string& name) -> std::optional<std::string> {
                          const char* v = std::getenv(name.c_str());
                          return v ? std::optional<std::string>(v) : std::nullopt;
                        })
                      : kube::load_kubeconfig(kubeconfig, kube_context);
    if (auto* e = std::get_if<std::string>(&access)) {
      std::cerr << "infergate: --kubernetes: " << *e << "\n";
      return 1;
    }
    kube::SourceOptions so;
    so.access = std::get<kube::ClusterAccess>(access);
    so.ns = watch_namespace;
    so.render.gateway = gateway_ref;
    so.render.pool_name = pool_name;
    so.render.pool_namespace = pool_namespace;
    if (!picker_config_map.empty() && picker_config_map.find('/') == std::string::npos)
      picker_config_map = (!pool_namespace.empty()    ? pool_namespace
                           : !watch_namespace.empty() ? watch_namespace
                                                      : std::string("default")) +
                          "/" + picker_config_map;
    so.picker_config_map = picker_config_map;
    if (!gateway_ref.empty() && o.mode == ServeMode::kGateway && !no_status) {
      const auto slash = gateway_ref.find('/');
      if (slash == std::string::npos) {
        std::cerr << "infergate: --gateway must be NAMESPACE/NAME, got " << gateway_ref << "\n";
        return 2;
      }
      so.status.gateway = gateway_ref;
      const char* pod_ns = std::getenv("POD_NAMESPACE");
      so.lease.ns = !lease_namespace.empty() ? lease_namespace
                    : pod_ns && *pod_ns      ? std::string(pod_ns)
                                             : gateway_ref.substr(0, slash);
      so.lease.name =
          lease_name.empty() ? "infergate-status-" + gateway_ref.substr(slash + 1) : lease_name;
      so.lease.duration = std::chrono::milliseconds(std::max(1000L, lease_duration_ms));
      const char* pod = std::getenv("POD_NAME");
      char host[256] = {};
      ::gethostname(host, sizeof host - 1);
      so.lease.identity =
          pod && *pod ? std::string(pod) : std::string(host) + "_" + std::to_string(::getpid());
    }
    cluster = std::make_unique<kube::KubernetesSource>(
        so, [](const std::string& line) { std::cerr << "infergate: " << line << "\n"; });
    std::string error;
    if (!cluster->start(error)) {
      std::cerr << "infergate: --kubernetes: " << error << "\n";
      return 1;
    }
    if (!cluster->wait_synced(std::chrono::milliseconds(kube_sync_ms)))
      std::cerr << "infergate: warning: not every kind was listed within " << kube_sync_ms
                << " ms; starting with what is known\n";
    // Read at every (re)load, which follows every change in the cluster: what the cluster
    // holds but cannot be served is said beside the configuration's own warnings, once while
    // it holds (as they are).
    o.more_documents = [c = cluster.get(), said = std::make_shared<config::WarningsSaid>()] {
      std::vector<std::string> left_out;
      std::string documents = c->documents(&left_out);
      for (const auto& line : said->new_since_last(std::move(left_out)))
        std::cerr << "infergate: warning: kubernetes: " << line << "\n";
      return documents;
    };
    o.more_metrics = [c = cluster.get()](std::string& out) { c->render_metrics(out); };
    o.source_ready = [c = cluster.get()] { return c->synced(); };
  }

  auto loaded = config::load_config(o.config_files, scheduling::scheduling_validator(o.scheduling),
                                    o.more_documents ? o.more_documents() : "", "kubernetes");
  for (const auto& w : loaded.diagnostics.warnings)
    std::cerr << "infergate: warning: " << w.to_string() << "\n";
  if (!loaded.config) {
    std::cerr << "infergate: invalid configuration:\n" << loaded.diagnostics.error_text();
    return 1;
  }
  for (const auto& s : loaded.config->skipped) std::cerr << "infergate: skipped " << s << "\n";
  if (check_only) {
    std::cout << config::dump(*loaded.config);
    return 0;
  }

  raise_open_file_limit();
  Gateway gateway(o, loaded.config);
  gateway.warnings_said_at_start(loaded.diagnostics);
  try {
    gateway.start();
  } catch (const std::exception& e) {
    std::cerr << "infergate: cannot listen: " << e.what() << "\n";
    return 1;
  }
  if (cluster) {
    // Every later change of the documents reloads (a change the configuration does not read,
    // such as status, does not); one now takes in what changed since the first build.
    struct Last {
      std::mutex mu;
      std::string documents;
    };
    auto last = std::make_shared<Last>();
    cluster->set_on_change([&gateway, last, c = cluster.get()] {
      std::string documents = c->documents();
      {
        std::lock_guard lock(last->mu);
        if (documents == last->documents) return;
        last->documents = std::move(documents);
      }
      gateway.request_reload();
    });
    gateway.request_reload();
  }
  std::printf("infergate: serving on port %u (admin %u)\n", gateway.port(), gateway.admin_port());
  std::printf("READY {\"port\":%u,\"admin_port\":%u,\"health_port\":%u}\n", gateway.port(),
              gateway.admin_port(), gateway.health_port());
  std::fflush(stdout);
  gateway.run();
  if (cluster) cluster->stop();  // its callback names the gateway: stopped before it goes
  return 0;
}

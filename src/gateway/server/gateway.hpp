// The gateway process: worker threads, each with its own io_context, listener (SO_REUSEPORT on
// one port), upstream connection pools and request handler; one shared, atomically swapped
// configuration snapshot; an admin listener; reload and drain. As an endpoint picker
// (ServeMode::kEndpointPicker) the workers run the phases of ext_proc streams instead of HTTP
// connections.
//
// Threading (see docs/architecture.md): worker threads never share mutable state except the
// snapshot pointer (atomic), the endpoints' counters (atomic) and the scheduling plugins' own
// state (atomics, such as round-robin-picker's position). The control thread (the one calling
// run()) owns signals, the config watcher, the admin listener and reloads.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/clock.hpp"
#include "config/config.hpp"
#include "config/diagnostics.hpp"
#include "gateway/datastore/datastore.hpp"
#include "gateway/extproc/extproc_options.hpp"
#include "gateway/flowcontrol/flow_control.hpp"
#include "gateway/frontend/connection_balancer.hpp"
#include "gateway/frontend/connection_limit.hpp"
#include "gateway/frontend/http_frontend.hpp"
#include "gateway/lifecycle/access_log.hpp"
#include "gateway/lifecycle/accounting.hpp"
#include "gateway/lifecycle/request_handler.hpp"
#include "gateway/pickerclient/client_options.hpp"
#include "gateway/scheduling/framework/decision_log.hpp"
#include "gateway/scheduling/framework/prefix_indexes.hpp"
#include "gateway/scheduling/framework/profile_scheduler.hpp"
#include "gateway/scraper/metrics_scraper.hpp"
#include "gateway/server/admin.hpp"
#include "gateway/upstream/upstream_client.hpp"
#include "tls/server_credentials.hpp"

namespace infergate::gateway {

namespace extproc {
class ExtProcServer;
}
namespace pickerclient {
class PickerClient;
}

// How requests reach the gateway: as an HTTP proxy (the client listener), or as the endpoint
// picker behind Envoy (ext_proc over gRPC; docs/extproc.md).
enum class ServeMode { kGateway, kEndpointPicker };

struct GatewayOptions {
  std::vector<std::string> config_files;
  // Configuration documents from another source, read after the files at every reload (the
  // API server's objects; null: none).
  std::function<std::string()> more_documents;
  // That source's metrics, appended to /metrics; and whether it is ready (until it is,
  // /readyz answers 503). Null: nothing.
  std::function<void(std::string&)> more_metrics;
  std::function<bool()> source_ready;
  ServeMode mode = ServeMode::kGateway;
  extproc::ServerOptions extproc;  // the endpoint picker's ports and TLS
  // How pools that name an endpoint picker of their own reach it (the gateway mode).
  pickerclient::ClientOptions picker_client;
  std::string listen = "0.0.0.0:8080";
  std::string admin_listen = "127.0.0.1:9090";
  int workers = 0;  // 0: one per core
  FrontendLimits limits;
  UpstreamTimeouts upstream;
  HandlerOptions handler;
  std::size_t max_idle_upstream_per_endpoint = 128;
  std::size_t max_connections = 10000;  // client connections open at once, over all workers
  AdminAccess admin_access;
  // TLS on the client listener (null: plain HTTP); its files are read again every
  // tls_reload_interval, and a good new pair serves new connections.
  std::shared_ptr<tls::ServerCredentials> listener_tls;
  std::chrono::milliseconds tls_reload_interval{5000};
  std::chrono::milliseconds drain_timeout{30000};
  bool watch_config = true;
  AccessLogOptions access_log;
  scheduling::SchedulerOptions scheduling;
  ScrapeOptions scrape;
  flowcontrol::FlowControlOptions flow;
};

class Gateway final : public SnapshotSource {
 public:
  Gateway(GatewayOptions options, const std::shared_ptr<const config::Config>& initial);
  ~Gateway() override;

  // Binds the listeners (throws std::system_error when an address is taken) and starts the
  // workers. Afterwards ports() tells where they listen.
  void start();
  // Serves until SIGTERM/SIGINT (then drains) or stop(); handles SIGHUP and file changes.
  void run();
  // Loads and validates the configuration files again; swaps it in only if valid. Logs the
  // warnings the last load did not have.
  bool reload();
  // The first load's warnings, which the caller said: reloads do not say them again.
  void warnings_said_at_start(const config::Diagnostics& first_load) {
    warnings_said_.new_since_last(first_load);
  }
  // From any thread: a reload soon (changes that come while one is pending are taken in it).
  void request_reload();
  // From any thread: begin draining (as SIGTERM does).
  void stop();

  // The client listener's port, or the ext_proc port of an endpoint picker.
  std::uint16_t port() const;
  std::uint16_t admin_port() const;
  std::uint16_t health_port() const;  // an endpoint picker's gRPC health port (0: none)
  std::shared_ptr<const Snapshot> current() const override { return snapshot_.load(); }

  // Ready for traffic: listening, the configuration loaded and the first scrape round done, and
  // not draining (/readyz; an endpoint picker's gRPC health says the same).
  bool ready() const {
    return ready_.load(std::memory_order_relaxed) &&
           (!options_.source_ready || options_.source_ready());
  }

  // The requests' counters (RequestAccounting), and the process's own.
  const RequestAccounting::Counters& request_counters() const { return accounting_.counters(); }
  const RequestMetrics& request_metrics() const { return accounting_.metrics(); }
  // The access log's lines written and dropped (zeros when it is off).
  AccessLog::Counts access_log_counts() const {
    return access_log_ ? access_log_->counts() : AccessLog::Counts{};
  }
  struct Counters {
    std::atomic<std::uint64_t> reloads{0};
    std::atomic<std::uint64_t> reload_failures{0};
    std::atomic<std::uint64_t> tls_reloads{0};
    std::atomic<std::uint64_t> tls_reload_failures{0};
  };
  const Counters& counters() const { return counters_; }
  // Failed TLS handshakes on the client listener, over all workers.
  std::uint64_t tls_handshake_failures() const;
  const Clock& clock() const { return clock_; }
  const GatewayOptions& options() const { return options_; }
  Duration metrics_staleness() const { return options_.scheduling.metrics_staleness; }
  const scheduling::PrefixIndexes& prefix_indexes() const { return *prefix_indexes_; }
  const flowcontrol::FlowControl& flow_control() const { return *flow_control_; }
  // The client of pools' own endpoint pickers (null in the endpoint-picker mode).
  const pickerclient::PickerClient* pickers() const { return pickers_.get(); }
  // The last decisions, explained while the dashboard watches them.
  scheduling::DecisionLog& decisions() const { return *decisions_; }

 private:
  struct Worker;
  struct Control;
  void watch_signals();
  void watch_config_files();
  void watch_tls_files();
  // Ends every coroutine of the workers (connections closed, requests cancelled) and joins
  // them; then the control thread's. Both are idempotent.
  void stop_workers();
  void stop_control();

  GatewayOptions options_;
  SteadyClock clock_;
  std::shared_ptr<scheduling::DecisionLog> decisions_;
  // The components' per-pool state, following the datastore's pools.
  std::shared_ptr<scheduling::PrefixIndexes> prefix_indexes_;
  std::shared_ptr<flowcontrol::FlowControl> flow_control_;
  Datastore datastore_;
  std::unique_ptr<MetricsScraper> scraper_;
  std::atomic<std::shared_ptr<const Snapshot>> snapshot_;
  // The gateway's client of pools' own pickers: it outlives the workers that use it.
  std::unique_ptr<pickerclient::PickerClient> pickers_;
  // Spreads client connections over the workers' front ends (null with one worker): it
  // outlives them.
  std::unique_ptr<ConnectionBalancer> balancer_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::unique_ptr<Control> control_;
  std::unique_ptr<ConnectionLimit> connections_;
  std::unique_ptr<extproc::ExtProcServer> extproc_;  // an endpoint picker's
  Counters counters_;
  std::unique_ptr<AccessLog> access_log_;  // null when off; outlives the accounting that feeds it
  RequestAccounting accounting_;
  std::atomic<bool> ready_{false};
  std::atomic<bool> reload_requested_{false};  // a request_reload() is pending
  config::WarningsSaid warnings_said_;         // the control thread's (reload())
};

}  // namespace infergate::gateway

#include "gateway/server/gateway.hpp"

#include <sys/inotify.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <filesystem>
#include <fstream>
#include <future>
#include <iostream>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "gateway/extproc/extproc_server.hpp"
#include "gateway/pickerclient/picker_client.hpp"
#include "gateway/scheduling/framework/build.hpp"
#include "gateway/server/admin.hpp"

namespace infergate::gateway {
namespace net = boost::asio;

namespace {

std::mutex log_mutex;
void log_line(const std::string& line) {
  std::lock_guard lock(log_mutex);
  std::cerr << "infergate: " << line << "\n";
}

// The access log the options ask for (null: off): to its file, or to standard output when there
// is none or it cannot be opened (main checked it could).
std::unique_ptr<AccessLog> make_access_log(const AccessLogOptions& o) {
  if (!o.enabled) return nullptr;
  std::unique_ptr<AccessLogSink> sink;
  if (!o.file.empty()) {
    std::string error;
    sink = file_sink(o.file, error);
    if (!sink) log_line("access log: " + error + "; writing it to standard output");
  }
  return std::make_unique<AccessLog>(o, sink ? std::move(sink) : stdout_sink());
}

// Scraping off means no endpoint's metrics can be stale.
scheduling::SchedulerOptions scheduling_options(
    const GatewayOptions& o, std::shared_ptr<scheduling::DecisionLog> decisions = nullptr) {
  scheduling::SchedulerOptions s = o.scheduling;
  s.scraping = o.scrape.interval.count() > 0;
  s.decisions = std::move(decisions);
  return s;
}

// The flags' flow-control options, with an EndpointPickerConfig's saturationDetector (queue
// depth, KV-cache threshold, staleness) taking precedence, as upstream's picker reads it.
flowcontrol::FlowControlOptions flow_options(const GatewayOptions& o,
                                             const config::Config* config) {
  flowcontrol::FlowControlOptions flow = o.flow;
  flow.saturation.staleness = o.scheduling.metrics_staleness;
  flow.saturation.scraping = o.scrape.interval.count() > 0;
  if (config && config->picker)
    flow.saturation = flowcontrol::with_saturation_detector(flow.saturation, *config->picker);
  return flow;
}

// The configuration files' contents, one after another (a file that cannot be read adds its
// name and a mark, so its coming back counts as a change).
std::string read_config_text(const std::vector<std::string>& files) {
  std::string all;
  for (const auto& f : files) {
    std::ifstream in(f, std::ios::binary);
    if (!in) {
      all += '\0';
      all += "unreadable: " + f;
      all += '\0';
      continue;
    }
    std::ostringstream text;
    text << in.rdbuf();
    all += text.str();
    all += '\0';
  }
  return all;
}

}  // namespace

// A worker's coroutines refer to its front end, handler and upstream client, and ~io_context
// destroys the coroutines still suspended in it: so a worker stops by ending every coroutine
// (close_all, shutdown) and letting io.run() return for want of work, never by io.stop() with
// coroutines pending (that crashed on SIGTERM with a connection open).
//
// A worker's sockets and timers are used on its own thread only; other threads post to it (the
// scheduler keeps its lock for them). So its reactor takes no lock per socket operation.
struct Gateway::Worker {
  explicit Worker(std::uint64_t seed) : random(seed) {}
  net::io_context io{BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO};
  std::optional<net::executor_work_guard<net::io_context::executor_type>> work;
  std::thread thread;
  std::promise<void> ran_out;  // set when io.run() returns
  std::future<void> stopped = ran_out.get_future();
  Mt19937Random random;
  std::unique_ptr<UpstreamClient> upstream;
  std::unique_ptr<RequestHandler> handler;
  std::unique_ptr<HttpFrontend> frontend;
};

struct Gateway::Control {
  net::io_context io{1};
  net::signal_set signals{io, SIGINT, SIGTERM, SIGHUP};
  std::unique_ptr<HttpFrontend> admin;
  net::steady_timer reload_debounce{io};
  net::steady_timer tls_poll{io};
  std::optional<net::posix::stream_descriptor> inotify;
  std::array<char, 4096> inotify_buffer{};
  std::string watched_text;  // the configuration files' contents when last looked at
  std::atomic<bool> draining{false};
};

Gateway::Gateway(GatewayOptions options, const std::shared_ptr<const config::Config>& initial)
    : options_(std::move(options)),
      decisions_(std::make_shared<scheduling::DecisionLog>(clock_)),
      prefix_indexes_(std::make_shared<scheduling::PrefixIndexes>()),
      flow_control_(std::make_shared<flowcontrol::FlowControl>(
          clock_, flow_options(options_, initial.get()))),
      datastore_(
          scheduling::scheduler_factory(scheduling_options(options_, decisions_), prefix_indexes_),
          {prefix_indexes_, flow_control_}),
      control_(std::make_unique<Control>()),
      connections_(
          std::make_unique<ConnectionLimit>(std::max<std::size_t>(1, options_.max_connections))),
      access_log_(make_access_log(options_.access_log)),
      accounting_(access_log_.get()) {
  snapshot_.store(datastore_.reconcile(initial));
  accounting_.metrics().pin_models(configured_model_names(*initial));
  scraper_ = std::make_unique<MetricsScraper>(*this, clock_, options_.scrape, log_line);
  int n = options_.workers > 0
              ? options_.workers
              : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  for (int i = 0; i < n; ++i)
    workers_.push_back(
        std::make_unique<Worker>(0x1f2e3d4c5b6a7988ULL + static_cast<std::uint64_t>(i)));
}

Gateway::~Gateway() {
  try {
    if (scraper_) scraper_->stop();
    if (extproc_) extproc_->shutdown(std::chrono::milliseconds(0));  // the workers still run
    stop_workers();
    stop_control();
  } catch (const std::exception& e) {
    log_line(std::string("while stopping: ") + e.what());
  }
}

void Gateway::stop_workers() {
  for (auto& w : workers_) {
    if (!w || !w->thread.joinable()) continue;
    net::post(w->io, [&w = *w] {
      if (w.frontend) w.frontend->close_all();
      if (w.upstream) w.upstream->shutdown();
    });
    w->work.reset();
  }
  // Cancelled requests end within a few event-loop turns; the bound only guards against a
  // coroutine that ignores cancellation.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  for (auto& w : workers_) {
    if (!w || !w->thread.joinable()) continue;
    if (w->stopped.wait_until(deadline) == std::future_status::ready) {
      w->thread.join();
      continue;
    }
    log_line("a worker did not stop in time; leaving its state to the process exit");
    w->io.stop();
    w->thread.join();
    (void)w.release();  // destroying it would destroy coroutines that refer to its parts
  }
}

void Gateway::stop_control() {
  if (!control_) return;
  Control& c = *control_;
  // On the control loop's thread, as a front end's connections must be closed (cancelling a
  // request runs there).
  if (c.admin) net::post(c.io, [&c] { c.admin->close_all(); });
  boost::system::error_code ignored;
  c.signals.cancel(ignored);
  c.reload_debounce.cancel();
  c.tls_poll.cancel();
  if (c.inotify) c.inotify->close(ignored);
  c.io.restart();
  c.io.run_for(std::chrono::seconds(2));
  if (!c.io.stopped()) {
    log_line("the control loop did not stop in time; leaving its state to the process exit");
    (void)control_.release();
  }
}

std::uint16_t Gateway::port() const {
  return extproc_ ? extproc_->port() : workers_.front()->frontend->port();
}
std::uint16_t Gateway::health_port() const { return extproc_ ? extproc_->health_port() : 0; }
std::uint16_t Gateway::admin_port() const { return control_->admin->port(); }

void Gateway::start() {
  const bool picker = options_.mode == ServeMode::kEndpointPicker;
  std::string listen = options_.listen;
  std::vector<extproc::StreamWorker> stream_workers;
  // Pools that name an endpoint picker are picked by it, in the gateway mode (an endpoint
  // picker picks for every pool itself).
  if (!picker) {
    pickers_ = std::make_unique<pickerclient::PickerClient>(options_.picker_client);
    pickers_->stats().on_event = log_line;
    for (const auto& pool : current()->config->pools)
      if (pool.picker)
        log_line("pool " + pool.ns() + "/" + pool.name() + " is picked by endpoint picker " +
                 pool.picker->name + " at " + pool.picker->address + " (" +
                 pickers_->tls_summary() + ")");
  }
  if (!picker && workers_.size() > 1) balancer_ = std::make_unique<ConnectionBalancer>();
  for (auto& w : workers_) {
    w->upstream = make_pooled_upstream_client(w->io.get_executor(), options_.upstream,
                                              options_.max_idle_upstream_per_endpoint);
    w->handler =
        std::make_unique<RequestHandler>(*this, *w->upstream, w->random, clock_, options_.handler);
    w->handler->phases().on_event = log_line;
    w->handler->phases().on_complete = [this](const RequestRecord& r) { accounting_.finished(r); };
    w->handler->phases().metrics = &accounting_.metrics();
    w->handler->phases().pickers = pickers_.get();
    if (picker) {
      stream_workers.push_back({w->io.get_executor(), &w->handler->phases()});
      continue;
    }
    auto acceptor = make_acceptor(w->io.get_executor(), listen, /*reuse_port=*/true);
    if (listen.ends_with(":0")) {  // the others share the port the first one got
      listen =
          listen.substr(0, listen.size() - 1) + std::to_string(acceptor.local_endpoint().port());
    }
    RequestHandler* handler = w->handler.get();
    w->frontend = std::make_unique<HttpFrontend>(
        std::move(acceptor),
        [this, handler](const ClientRequest& req, ClientResponse& res) -> net::awaitable<void> {
          const RequestAccounting::InFlight in_flight(accounting_);
          co_await handler->handle(req, res);
        },
        options_.limits, connections_.get(), options_.listener_tls.get());
    if (balancer_) w->frontend->balance_with(*balancer_);
  }
  control_->admin = std::make_unique<HttpFrontend>(
      make_acceptor(control_->io.get_executor(), options_.admin_listen, false),
      make_admin_handler(*this, options_.admin_access), options_.limits);

  for (auto& w : workers_) {
    w->work.emplace(w->io.get_executor());
    if (w->frontend) net::co_spawn(w->io, w->frontend->accept_loop(), net::detached);
    w->thread = std::thread([&w = *w] {
      w.io.run();
      w.ran_out.set_value();
    });
  }
  net::co_spawn(control_->io, control_->admin->accept_loop(), net::detached);
  scraper_->start();
  // Report ready with metrics in hand: until its first scrape an endpoint counts as saturated.
  if (!scraper_->wait_first_round(options_.scrape.interval + options_.scrape.timeout))
    log_line("not every endpoint answered its first scrape in time; starting anyway");
  if (picker) {
    extproc::ServerOptions o = options_.extproc;
    o.stream.max_body_bytes = options_.limits.max_body_bytes;
    extproc_ = std::make_unique<extproc::ExtProcServer>(o, std::move(stream_workers), accounting_);
    extproc_->set_readiness([this] { return ready(); });  // gRPC health mirrors /readyz
    extproc_->start();
    extproc_->set_serving(true);
    log_line("endpoint picker: ext_proc on port " + std::to_string(extproc_->port()) + ", " +
             extproc_->tls_summary());
  }

  if (options_.listener_tls) {
    log_line("TLS on the client listener: " + options_.listener_tls->summary());
    watch_tls_files();
  }
  ready_.store(true);
  // Watched from before the caller learns we are ready, so no change can slip in unseen.
  Control& c = *control_;
  // Reload when a configuration file changes. Editors replace the file, and kubelet updates a
  // mounted ConfigMap by swapping the folder's `..data` symlink, so the file's own name may see
  // no event: any event in a watched folder leads (after a pause) to a look at the contents,
  // and a reload only when they changed.
  if (options_.watch_config && !options_.config_files.empty()) {
    const int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (fd >= 0) {
      std::set<std::string> dirs;
      for (const auto& f : options_.config_files)
        dirs.insert(std::filesystem::absolute(f).parent_path().string());
      for (const auto& d : dirs)
        inotify_add_watch(fd, d.c_str(),
                          IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_DELETE | IN_ATTRIB);
      c.watched_text = read_config_text(options_.config_files);
      c.inotify.emplace(c.io, fd);
      watch_config_files();
    } else {
      log_line("cannot watch the configuration files; reload with SIGHUP");
    }
  }
}

bool Gateway::reload() {
  auto result = config::load_config(
      options_.config_files, scheduling::scheduling_validator(scheduling_options(options_)),
      options_.more_documents ? options_.more_documents() : std::string(), "kubernetes");
  if (!result.config) {
    counters_.reload_failures.fetch_add(1);
    log_line("reload rejected, keeping the current configuration:\n" +
             result.diagnostics.error_text());
    return false;
  }
  for (const std::string& w : warnings_said_.new_since_last(result.diagnostics))
    log_line("warning: " + w);
  flow_control_->set_options(flow_options(options_, result.config.get()));
  snapshot_.store(datastore_.reconcile(result.config));
  accounting_.metrics().pin_models(configured_model_names(*result.config));
  scraper_->snapshot_changed();
  counters_.reloads.fetch_add(1);
  log_line("configuration reloaded (generation " + std::to_string(current()->generation) + ")");
  return true;
}

void Gateway::request_reload() {
  // Changes that come while a reload is pending fold into it: it reads the newest state.
  if (reload_requested_.exchange(true)) return;
  net::post(control_->io, [this] {
    reload_requested_ = false;
    reload();
  });
}

void Gateway::stop() {
  net::post(control_->io, [this] {
    control_->draining = true;
    control_->io.stop();
  });
}

void Gateway::watch_signals() {
  Control& c = *control_;
  c.signals.async_wait([this, &c](const boost::system::error_code& ec, int signo) {
    if (ec) return;
    if (signo == SIGHUP) {
      reload();
      watch_signals();
      return;
    }
    log_line("draining: no new connections; waiting for in-flight requests");
    c.draining = true;
    c.io.stop();
  });
}

void Gateway::watch_config_files() {
  Control& c = *control_;
  c.inotify->async_read_some(
      net::buffer(c.inotify_buffer), [this, &c](const boost::system::error_code& ec, std::size_t) {
        if (ec) return;
        // Coalesce the burst of events one save (or one ConfigMap update) makes.
        c.reload_debounce.expires_after(std::chrono::milliseconds(100));
        c.reload_debounce.async_wait([this, &c](const boost::system::error_code& tec) {
          if (tec) return;
          std::string text = read_config_text(options_.config_files);
          if (text == c.watched_text) return;  // another file in the folder, or no change
          c.watched_text = std::move(text);
          reload();
        });
        watch_config_files();
      });
}

// The listener's certificate files are read again every interval: a changed good pair serves
// new connections from then on; a bad one is refused, once, with the reason, and the old pair
// stays in use.
void Gateway::watch_tls_files() {
  Control& c = *control_;
  c.tls_poll.expires_after(options_.tls_reload_interval);
  c.tls_poll.async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;
    const tls::ServerCredentials::Refresh r =
        options_.listener_tls->refresh(std::chrono::system_clock::now());
    if (r.changed) {
      (r.applied ? counters_.tls_reloads : counters_.tls_reload_failures).fetch_add(1);
      log_line(r.message);
    }
    watch_tls_files();
  });
}

std::uint64_t Gateway::tls_handshake_failures() const {
  std::uint64_t n = 0;
  for (const auto& w : workers_)
    if (w && w->frontend) n += w->frontend->tls_handshake_failures();
  return n;
}

void Gateway::run() {
  Control& c = *control_;
  // SIGHUP reloads; SIGTERM/SIGINT drain.
  watch_signals();
  c.io.run();

  // Drain: stop accepting and close connections with no request begun; answer every request
  // begun (from its first byte) within the drain timeout, while the admin listener still
  // answers the requests it has begun.
  ready_.store(false);
  if (extproc_) extproc_->set_serving(false);
  c.io.restart();
  for (auto& w : workers_)
    if (w->frontend) net::post(w->io, [f = w->frontend.get()] { f->drain(); });
  c.admin->drain();
  // An endpoint picker's streams may end until the drain timeout, then they are cancelled.
  if (extproc_) extproc_->shutdown(options_.drain_timeout);
  const auto busy = [this] {
    std::size_t n = control_->admin->busy_connections();
    for (const auto& w : workers_)
      if (w->frontend) n += w->frontend->busy_connections();
    return n;
  };
  const auto deadline = std::chrono::steady_clock::now() + options_.drain_timeout;
  while (busy() > 0 && std::chrono::steady_clock::now() < deadline) {
    c.io.restart();
    c.io.run_for(std::chrono::milliseconds(10));
    // Nothing left to run on this thread: wait here instead.
    if (c.io.stopped()) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (const std::size_t left = busy(); left > 0)
    log_line("drain timeout: " + std::to_string(left) + " requests cut off");
  if (scraper_) scraper_->stop();
  stop_workers();
  stop_control();
  log_line("stopped");
}

}  // namespace infergate::gateway

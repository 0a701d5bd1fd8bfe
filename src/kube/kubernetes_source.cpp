#include "kube/kubernetes_source.hpp"

#include "kube/https_transport.hpp"
#include "metrics/prometheus_writer.hpp"

namespace infergate::kube {

struct KubernetesSource::Watch {
  std::unique_ptr<ApiTransport> transport;
  std::unique_ptr<Reflector> reflector;
  std::thread thread;
};

KubernetesSource::KubernetesSource(SourceOptions options,
                                   std::function<void(const std::string&)> log)
    : options_(std::move(options)), log_(std::move(log)), state_(options_.render) {}

KubernetesSource::~KubernetesSource() { stop(); }

bool KubernetesSource::start(std::string& error) {
  const auto& kinds = watched_kinds();
  for (std::size_t i = 0; i < kinds.size(); ++i) {
    ResourceKind resource = kinds[i].resource;
    ReflectorOptions ro = options_.reflector;
    ro.ns = options_.ns;
    if (kinds[i].kind == "Service" && !options_.render.pool_name.empty()) {
      state_.set(i, {});  // an endpoint picker calls no picker: listed, empty
      continue;
    }
    if (kinds[i].kind == "ConfigMap") {  // only the one named, in its own namespace
      const auto slash = options_.picker_config_map.find('/');
      if (slash == std::string::npos) {
        state_.set(i, {});  // none named: listed, empty
        continue;
      }
      ro.ns = options_.picker_config_map.substr(0, slash);
      resource.field_selector = "metadata.name=" + options_.picker_config_map.substr(slash + 1);
    }
    auto w = std::make_unique<Watch>();
    w->transport = make_https_transport(options_.access, error);
    if (!w->transport) return false;
    Reflector::Hooks hooks;
    hooks.on_change = [this, i](const ObjectSet& objects) {
      state_.set(i, objects);
      std::function<void()> call;
      {
        std::lock_guard lock(mu_);  // a waiter is either before its check or waiting
        call = on_change_;
        ++changes_;
      }
      changed_.notify_all();
      if (state_.synced() && call) call();
    };
    hooks.on_error = [this](const std::string& e) {
      if (log_) log_("kubernetes: " + e);
    };
    hooks.wait = [this](std::chrono::milliseconds d) {
      std::unique_lock lock(mu_);
      return !changed_.wait_for(lock, d, [this] { return stopping_; });
    };
    if (kinds[i].kind == "Pod") hooks.trim = trim_pod;
    if (kinds[i].kind == "Service") hooks.trim = trim_service;
    w->reflector = std::make_unique<Reflector>(*w->transport, resource, ro, hooks);
    watches_.push_back(std::move(w));
  }
  for (auto& w : watches_) w->thread = std::thread([r = w->reflector.get()] { r->run(); });
  if (!options_.status.gateway.empty()) {
    status_api_ = make_https_transport(options_.access, error);
    if (!status_api_) return false;
    status_thread_ = std::thread([this] { write_status_loop(); });
  }
  return true;
}

// Holds or waits for the Lease; while held, writes status after every change (once every kind
// has been listed) and every status_resync. Gives the Lease up when stopped.
void KubernetesSource::write_status_loop() {
  LeaderLease lease(*status_api_, options_.lease, [] { return std::chrono::steady_clock::now(); });
  const auto retry = std::max(options_.lease.duration / 5, std::chrono::milliseconds(200));
  std::uint64_t written_at = 0;
  auto last_write = std::chrono::steady_clock::now();
  std::string last_error;
  for (;;) {
    std::string error;
    const bool held = lease.step(error);
    if (held != leader_.load() && log_)
      log_(held ? "kubernetes: this replica holds the Lease " + options_.lease.ns + "/" +
                      options_.lease.name + ": it writes status"
                : "kubernetes: the Lease " + options_.lease.ns + "/" + options_.lease.name +
                      " is another replica's: it writes status");
    leader_ = held;
    if (!error.empty() && error != last_error && log_) log_("kubernetes: Lease: " + error);
    last_error = error;
    std::uint64_t changes = 0;
    {
      std::lock_guard lock(mu_);
      changes = changes_;
    }
    const auto now = std::chrono::steady_clock::now();
    if (held && state_.synced() &&
        (changes != written_at || now - last_write >= options_.status_resync)) {
      StatusInputs in;
      in.routes = state_.objects_of("HTTPRoute", "gateway.networking.k8s.io/v1");
      in.pools = state_.objects_of("InferencePool", "inference.networking.k8s.io/v1");
      in.pools_v1alpha2 =
          state_.objects_of("InferencePool", "inference.networking.x-k8s.io/v1alpha2");
      in.pods = state_.objects_of("Pod", "v1");
      const auto failures = write_status(*status_api_, std::move(in), options_.status);
      ++status_writes_;
      status_failures_ += failures.size();
      for (const auto& f : failures)
        if (log_) log_("kubernetes: status: " + f);
      written_at = changes;
      last_write = now;
    }
    // The holder wakes for a change; the others only to try the Lease again.
    std::unique_lock lock(mu_);
    changed_.wait_for(lock, retry, [&] {
      return stopping_ || (held && changes_ != written_at && state_.synced());
    });
    if (stopping_) break;
  }
  lease.release();
  leader_ = false;
}

void KubernetesSource::set_on_change(std::function<void()> f) {
  std::lock_guard lock(mu_);
  on_change_ = std::move(f);
}

bool KubernetesSource::wait_synced(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  return changed_.wait_for(lock, timeout, [this] { return stopping_ || state_.synced(); }) &&
         !stopping_;
}

void KubernetesSource::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  changed_.notify_all();
  for (auto& w : watches_) w->reflector->stop();
  for (auto& w : watches_)
    if (w->thread.joinable()) w->thread.join();
  watches_.clear();
  if (status_thread_.joinable()) status_thread_.join();
}

void KubernetesSource::render_metrics(std::string& out) const {
  metrics::PrometheusWriter w(out);
  using metrics::MetricType;
  const auto per_resource = [&](std::string_view name, std::string_view help, auto value) {
    w.family(name, MetricType::kCounter, help);
    for (const auto& watch : watches_)
      w.sample(name, {{"resource", watch->reflector->resource_name()}},
               static_cast<double>(value(*watch->reflector)));
  };
  per_resource("infergate_kubernetes_lists_total", "Whole lists of a resource from the API server.",
               [](const Reflector& r) { return r.lists(); });
  per_resource("infergate_kubernetes_relists_after_gone_total",
               "Lists again because a watch's version had expired (410 Gone).",
               [](const Reflector& r) { return r.relists_after_gone(); });
  w.family("infergate_kubernetes_synced", MetricType::kGauge,
           "1 once every watched resource has been listed.");
  w.sample("infergate_kubernetes_synced", state_.synced() ? 1.0 : 0.0);
  if (options_.status.gateway.empty()) return;
  w.family("infergate_kubernetes_status_leader", MetricType::kGauge,
           "1 while this replica holds the status Lease (and writes status).");
  w.sample("infergate_kubernetes_status_leader", leader_ ? 1.0 : 0.0);
  w.family("infergate_kubernetes_status_rounds_total", MetricType::kCounter,
           "Rounds of status computed and written by this replica.");
  w.sample("infergate_kubernetes_status_rounds_total", static_cast<double>(status_writes_.load()));
  w.family("infergate_kubernetes_status_write_failures_total", MetricType::kCounter,
           "Status writes that failed (after retries on conflict).");
  w.sample("infergate_kubernetes_status_write_failures_total",
           static_cast<double>(status_failures_.load()));
}

}  // namespace infergate::kube

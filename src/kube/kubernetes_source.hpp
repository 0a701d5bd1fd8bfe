// The API server as a source of configuration (infergate --kubernetes): a Reflector per
// watched kind, each on a thread of its own with a connection of its own, feeding one
// ClusterState. Every change calls on_change (from a reflector's thread); the gateway then
// reloads with documents() next to its files, through the same reconcile path as a file
// reload.
//
// Thread-safety: start() and stop() from one thread; documents() and synced() from any.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "kube/cluster_state.hpp"
#include "kube/kubeconfig.hpp"
#include "kube/leader_lease.hpp"
#include "kube/status_writer.hpp"

namespace infergate::kube {

struct SourceOptions {
  ClusterAccess access;
  std::string ns;  // one namespace, or empty: every namespace
  // The ConfigMap whose data holds the EndpointPickerConfig ("namespace/name"), watched alone;
  // empty: none (ConfigMaps are not watched).
  std::string picker_config_map;
  RenderOptions render;
  ReflectorOptions reflector;
  // Status written back (status.gateway set): by the replica holding `lease`, every time the
  // objects change and every `status_resync`.
  StatusOptions status;
  LeaseOptions lease;
  std::chrono::milliseconds status_resync{30000};
};

class KubernetesSource {
 public:
  KubernetesSource(SourceOptions options, std::function<void(const std::string&)> log);
  ~KubernetesSource();
  KubernetesSource(const KubernetesSource&) = delete;
  KubernetesSource& operator=(const KubernetesSource&) = delete;

  // `f` is called after each change once every kind has been listed (on a reflector's thread).
  void set_on_change(std::function<void()> f);

  // Starts the watches; false, with `error`, when the API server cannot be reached at all.
  bool start(std::string& error);
  // Waits until every kind has been listed once; false when `timeout` passed first.
  bool wait_synced(std::chrono::milliseconds timeout);
  bool synced() const { return state_.synced(); }
  std::string documents(std::vector<std::string>* left_out = nullptr) const {
    return state_.documents(left_out);
  }
  // Appends the watches' counters to a Prometheus page: lists per resource, relists after an
  // expired version (410), and whether every kind has been listed.
  void render_metrics(std::string& out) const;
  void stop();

 private:
  struct Watch;
  void write_status_loop();

  SourceOptions options_;
  std::function<void(const std::string&)> log_;
  ClusterState state_;
  std::vector<std::unique_ptr<Watch>> watches_;
  std::mutex mu_;
  std::condition_variable changed_;
  bool stopping_ = false;
  std::function<void()> on_change_;  // under mu_
  std::uint64_t changes_ = 0;        // under mu_: every change of any kind
  // The status writer's, when status is written.
  std::unique_ptr<ApiTransport> status_api_;
  std::thread status_thread_;
  std::atomic<bool> leader_{false};
  std::atomic<std::uint64_t> status_writes_{0};
  std::atomic<std::uint64_t> status_failures_{0};
};

}  // namespace infergate::kube

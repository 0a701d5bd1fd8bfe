// A real Kubernetes control plane for integration tests: tests/peers/kube's kube-harness starts
// etcd and kube-apiserver (built from their Go modules) on loopback ports with a fresh CA and
// token. API calls go through curl (Debian's), with the harness's CA and bearer token. The fleet
// is Pods without a node whose status (podIP on 127.0.0.x, Ready) the test writes.
#pragma once

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace infergate::testing {

class ChildProcess;

// Runs a shell command; its stdout, and whether it exited 0.
std::pair<std::string, bool> run_shell(const std::string& command);

class KubeCluster {
 public:
  // Starts `harness` (kube-harness) with its binaries in `bin_dir`, its files under `dir`.
  KubeCluster(const std::filesystem::path& dir, const std::string& harness,
              const std::string& bin_dir);
  ~KubeCluster();

  const std::string& kubeconfig() const { return kubeconfig_; }
  const std::string& server() const { return server_; }
  const std::string& ca_file() const { return ca_; }

  // `method` `path` with `body` (JSON or YAML); the answer's body. A failed call or an answer
  // of 300 or more fails the test.
  std::string call(const std::string& method, const std::string& path, const std::string& body = "",
                   const std::string& content_type = "application/json");
  // Installs the CustomResourceDefinition in `file` (YAML).
  void apply_crd(const std::string& file);
  // Waits (bounded) until `path` answers 200.
  void wait_served(const std::string& path);
  // A Pod in `ns` labelled app=`app`, with its status set as set_ready does.
  void create_pod(const std::string& ns, const std::string& name, const std::string& ip, bool ready,
                  const std::string& app = "llama");
  void set_ready(const std::string& ns, const std::string& name, const std::string& ip, bool ready);
  // Creates the objects of `kinds` among the YAML documents in `text` (a rendered chart, say),
  // each at the path its apiVersion and kind give, in its own namespace (`ns` when it names
  // none); with `dry_run`, a server-side dry run of each instead. Returns how many.
  int apply(const std::string& text, const std::vector<std::string>& kinds, const std::string& ns,
            bool dry_run = false);
  // A kubeconfig at `path` whose user is a token of the ServiceAccount `ns`/`name` (a
  // TokenRequest), for running a program on exactly that account's permissions.
  void write_service_account_kubeconfig(const std::string& ns, const std::string& name,
                                        const std::string& path);
  // Compacts etcd so that every resourceVersion handed out so far is gone: the next watch from
  // one gets 410 Gone (the API server runs with --watch-cache=false).
  void compact();
  // Stops kube-apiserver and starts it again on the same port with the same credentials;
  // returns once it serves again.
  void restart_apiserver();

 private:
  std::filesystem::path dir_;
  std::unique_ptr<ChildProcess> harness_;
  std::string server_, kubeconfig_, token_, ca_;
};

}  // namespace infergate::testing

// What InferGate watches in a cluster, and how the objects become the configuration documents
// the file loader reads (config/load_resources.hpp): an API server is one more source of the
// same resources, built through the same path as a file reload, so endpoint identity, counters
// and the prefix index survive every change.
//
//   InferencePool (v1 and v1alpha2), InferenceModel (v1alpha2), InferenceObjective and
//   InferenceModelRewrite (inference.networking.x-k8s.io/v1alpha2 and llm-d.ai/v1alpha2),
//   HTTPRoute (v1), the ConfigMap holding the EndpointPickerConfig (only the one named, see
//   SourceOptions): each object as it is, without its status, oldest first.
//   Pods: those Ready, with a podIP and not being deleted, become the endpoints of a
//   StaticEndpoints document per namespace (address: the podIP; the pools' targetPorts give
//   the ports), with their labels for the pools' selectors.
//   Services: those an InferencePool names as its endpoint picker (endpointPickerRef,
//   extensionRef) become entries of a StaticEndpoints document per namespace (address: the
//   cluster IP, or an ExternalName Service's name), which is where the gateway calls that
//   picker (config.hpp, PoolConfig::picker).
//   A pool whose picker has no such Service is picked by InferGate. Not watched by an endpoint
//   picker (--pool-name), which picks for its pool itself.
//
// Thread-safety: set() from the reflectors' threads, documents() from any.
#pragma once

#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "kube/reflector.hpp"

namespace infergate::kube {

struct WatchedKind {
  ResourceKind resource;
  std::string api_version;  // as the configuration names it ("inference.networking.k8s.io/v1")
  std::string kind;         // "InferencePool", or "Pod"
};

// Every kind InferGate reads, in the order their documents are written.
const std::vector<WatchedKind>& watched_kinds();

struct RenderOptions {
  // HTTPRoutes are kept only when a parentRef names this Gateway ("namespace/name"; empty:
  // every route).
  std::string gateway{};
  // An endpoint picker's one pool (--pool-name, --pool-namespace): only that InferencePool
  // (its v1 object when both versions exist), the objects whose poolRef names it, the Pods of
  // its namespace, and no HTTPRoutes. Empty: everything watched.
  std::string pool_name{};
  std::string pool_namespace{};
};

class ClusterState {
 public:
  explicit ClusterState(RenderOptions options = {});
  // The current objects of watched_kinds()[kind].
  void set(std::size_t kind, const ObjectSet& objects);
  // Whether every kind has been listed once.
  bool synced() const;
  // A copy of the current objects of one kind ("InferencePool", "inference.networking.k8s.io/v1").
  ObjectSet objects_of(const std::string& kind, const std::string& api_version) const;
  // The configuration documents ("---"-separated JSON, which YAML reads) of the current objects;
  // what of them cannot be served (a route's backendRef to a missing pool, say) is left out and
  // described in `left_out`.
  std::string documents(std::vector<std::string>* left_out = nullptr) const;

 private:
  const RenderOptions options_;
  mutable std::mutex mu_;
  std::vector<ObjectSet> objects_;
  std::vector<bool> listed_;
};

// Cuts a Pod down to what render_pods reads (Reflector::Hooks::trim).
void trim_pod(boost::json::object& pod);
// Cuts a Service down to what render_picker_services reads.
void trim_service(boost::json::object& service);
// The StaticEndpoints documents of the Services in `named` ("namespace/name") that have a
// cluster IP or an external name (for tests).
std::string render_picker_services(const ObjectSet& services, const std::set<std::string>& named);
// Whether a Pod takes requests: Ready, with an IP, not being deleted.
bool pod_ready(const boost::json::object& pod);

// The Pods' StaticEndpoints documents alone (for tests); only those of `only_namespace` when
// it is not empty.
std::string render_pods(const ObjectSet& pods, const std::string& only_namespace = {});

}  // namespace infergate::kube

// Status written back as a Gateway implementation writes it, for the Gateway this instance
// serves (--gateway NAMESPACE/NAME):
//
//   HTTPRoute (gateway.networking.k8s.io/v1) whose parentRefs name the Gateway: one
//     status.parents[] entry per such parentRef, with InferGate's controllerName and the
//     conditions Accepted (True, Accepted) and ResolvedRefs (True, ResolvedRefs; False,
//     BackendNotFound for a missing InferencePool, or InvalidKind for a backend that is not one).
//   InferencePool v1 that such a route sends to: status.parents[] {parentRef: the Gateway,
//     controllerName, conditions Accepted (True, Accepted; its message counts the Ready Pods the
//     selector matches) and ResolvedRefs (True, ResolvedRefs)}.
//   InferencePool v1alpha2: the same in status.parent[] (which has no controllerName: entries
//     naming this Gateway are ours), and the placeholder `kind: Status, name: default` removed.
//
// Entries of other controllers (other Gateways) are kept as they are; ours are removed from
// objects this Gateway no longer uses. lastTransitionTime changes only with a condition's
// status. Writes go through the /status subresource with the resourceVersion read; a 409 is
// read again and retried.
#pragma once

#include <string>
#include <vector>

#include "kube/api_transport.hpp"
#include "kube/reflector.hpp"

namespace infergate::kube {

struct StatusOptions {
  std::string gateway;  // "namespace/name"
  std::string controller = "infergate.dev/gateway-controller";
};

// The objects status is computed from (as the reflectors hold them).
struct StatusInputs {
  ObjectSet routes;
  ObjectSet pools;           // inference.networking.k8s.io/v1
  ObjectSet pools_v1alpha2;  // inference.networking.x-k8s.io/v1alpha2
  ObjectSet pods;
};

struct StatusUpdate {
  std::string path;            // the object's /status subresource
  boost::json::object object;  // the object with its new status (and the resourceVersion read)
};

// The objects whose status differs from what it should be, each with its new status.
std::vector<StatusUpdate> status_updates(const StatusInputs& in, const StatusOptions& options,
                                         const std::string& now);

// Computes and writes every update; a 409 reads that object again and retries with it (at
// most 3 times). Returns a line per failure.
std::vector<std::string> write_status(ApiTransport& api, StatusInputs in,
                                      const StatusOptions& options);

}  // namespace infergate::kube

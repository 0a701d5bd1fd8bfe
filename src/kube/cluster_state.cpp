#include "kube/cluster_state.hpp"

#include <boost/json/serialize.hpp>
#include <map>

namespace infergate::kube {
namespace json = boost::json;

namespace {

const json::object* object_at(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v ? v->if_object() : nullptr;
}

std::string string_at(const json::object* o, std::string_view key) {
  if (!o) return {};
  const json::value* v = o->if_contains(key);
  const json::string* s = v ? v->if_string() : nullptr;
  return s ? std::string(*s) : std::string();
}

bool pod_ready(const json::object& pod) {
  const json::object* meta = object_at(pod, "metadata");
  if (meta && meta->contains("deletionTimestamp")) return false;  // leaving: no new requests
  const json::object* status = object_at(pod, "status");
  if (!status || string_at(status, "podIP").empty()) return false;
  const json::value* conditions = status->if_contains("conditions");
  if (!conditions || !conditions->is_array()) return false;
  for (const json::value& c : conditions->as_array()) {
    const json::object* o = c.if_object();
    if (o && string_at(o, "type") == "Ready") return string_at(o, "status") == "True";
  }
  return false;
}

// Whether a route's parentRefs name `gateway` ("namespace/name"; a ref without a namespace is
// in the route's own).
bool route_for(const json::object& route, const std::string& gateway) {
  if (gateway.empty()) return true;
  const std::string route_ns = string_at(object_at(route, "metadata"), "namespace");
  const json::object* spec = object_at(route, "spec");
  const json::value* refs = spec ? spec->if_contains("parentRefs") : nullptr;
  if (!refs || !refs->is_array()) return false;
  for (const json::value& r : refs->as_array()) {
    const json::object* o = r.if_object();
    if (!o) continue;
    std::string ns = string_at(o, "namespace");
    if (ns.empty()) ns = route_ns;
    if (ns + "/" + string_at(o, "name") == gateway) return true;
  }
  return false;
}

// The object as a configuration document: its apiVersion and kind, its metadata's name,
// namespace, labels and annotations, and everything else but its status.
std::string document_of(const json::object& object, const WatchedKind& kind) {
  json::object out;
  out["apiVersion"] = kind.api_version;
  out["kind"] = kind.kind;
  json::object meta;
  if (const json::object* m = object_at(object, "metadata"))
    for (const char* k : {"name", "namespace", "labels", "annotations"})
      if (const json::value* v = m->if_contains(k)) meta[k] = *v;
  out["metadata"] = std::move(meta);
  for (const auto& [k, v] : object)
    if (k != "apiVersion" && k != "kind" && k != "metadata" && k != "status") out[k] = v;
  return json::serialize(out);
}

}  // namespace

const std::vector<WatchedKind>& watched_kinds() {
  static const std::vector<WatchedKind> kinds = {
      {{"", "v1", "pods", ""}, "v1", "Pod"},
      {{"inference.networking.k8s.io", "v1", "inferencepools", ""},
       "inference.networking.k8s.io/v1",
       "InferencePool"},
      {{"inference.networking.x-k8s.io", "v1alpha2", "inferencepools", ""},
       "inference.networking.x-k8s.io/v1alpha2",
       "InferencePool"},
      {{"inference.networking.x-k8s.io", "v1alpha2", "inferencemodels", ""},
       "inference.networking.x-k8s.io/v1alpha2",
       "InferenceModel"},
      {{"inference.networking.x-k8s.io", "v1alpha2", "inferenceobjectives", ""},
       "inference.networking.x-k8s.io/v1alpha2",
       "InferenceObjective"},
      {{"gateway.networking.k8s.io", "v1", "httproutes", ""},
       "gateway.networking.k8s.io/v1",
       "HTTPRoute"},
  };
  return kinds;
}

void trim_pod(json::object& pod) {
  json::object kept_meta, kept_status;
  if (const json::object* m = object_at(pod, "metadata"))
    for (const char* k : {"name", "namespace", "labels", "deletionTimestamp", "resourceVersion"})
      if (const json::value* v = m->if_contains(k)) kept_meta[k] = *v;
  if (const json::object* s = object_at(pod, "status"))
    for (const char* k : {"podIP", "conditions"})
      if (const json::value* v = s->if_contains(k)) kept_status[k] = *v;
  pod = json::object{{"metadata", std::move(kept_meta)}, {"status", std::move(kept_status)}};
}

std::string render_pods(const ObjectSet& pods) {
  // namespace -> endpoint entries
  std::map<std::string, json::array> by_namespace;
  for (const auto& [key, pod] : pods) {
    if (!pod_ready(pod)) continue;
    const json::object* meta = object_at(pod, "metadata");
    json::object endpoint;
    endpoint["name"] = string_at(meta, "name");
    endpoint["address"] = string_at(object_at(pod, "status"), "podIP");
    if (const json::value* labels = meta ? meta->if_contains("labels") : nullptr)
      endpoint["labels"] = *labels;
    by_namespace[string_at(meta, "namespace")].push_back(std::move(endpoint));
  }
  std::string out;
  for (auto& [ns, endpoints] : by_namespace) {
    json::object doc;
    doc["apiVersion"] = "infergate.dev/v1alpha1";
    doc["kind"] = "StaticEndpoints";
    doc["metadata"] = json::object{{"name", "kubernetes-pods"}, {"namespace", ns}};
    doc["spec"] = json::object{{"endpoints", std::move(endpoints)}};
    out += json::serialize(doc);
    out += "\n---\n";
  }
  return out;
}

ClusterState::ClusterState(RenderOptions options)
    : options_(std::move(options)),
      objects_(watched_kinds().size()),
      listed_(watched_kinds().size(), false) {}

void ClusterState::set(std::size_t kind, const ObjectSet& objects) {
  std::lock_guard lock(mu_);
  objects_.at(kind) = objects;
  listed_.at(kind) = true;
}

bool ClusterState::synced() const {
  std::lock_guard lock(mu_);
  for (const bool l : listed_)
    if (!l) return false;
  return true;
}

std::string ClusterState::documents() const {
  std::lock_guard lock(mu_);
  const auto& kinds = watched_kinds();
  std::string out;
  for (std::size_t i = 0; i < kinds.size(); ++i) {
    if (kinds[i].kind == "Pod") {
      out += render_pods(objects_[i]);
      continue;
    }
    for (const auto& [key, object] : objects_[i]) {
      if (kinds[i].kind == "HTTPRoute" && !route_for(object, options_.gateway)) continue;
      out += document_of(object, kinds[i]);
      out += "\n---\n";
    }
  }
  return out;
}

}  // namespace infergate::kube

#include "kube/cluster_state.hpp"

#include <algorithm>
#include <boost/json/serialize.hpp>
#include <map>
#include <set>

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

// Whether an object belongs to the one pool an endpoint picker serves: the pool itself, or an
// object in its namespace whose spec.poolRef names it.
bool of_pool(const json::object& object, const std::string& kind, const std::string& ns,
             const std::string& name) {
  const json::object* meta = object_at(object, "metadata");
  if (string_at(meta, "namespace") != ns) return false;
  if (kind == "InferencePool") return string_at(meta, "name") == name;
  const json::object* spec = object_at(object, "spec");
  return string_at(spec ? object_at(*spec, "poolRef") : nullptr, "name") == name;
}

// Whether a backendRef (in a route of namespace `ns`) is an InferencePool of that namespace in
// `pools`.
bool existing_pool(const json::object& ref, const std::string& ns,
                   const std::set<std::string>& pools) {
  const std::string group = string_at(&ref, "group");
  const json::value* kind = ref.if_contains("kind");
  if (group != "inference.networking.k8s.io" && group != "inference.networking.x-k8s.io")
    return false;
  if (kind && (!kind->is_string() || kind->as_string() != "InferencePool")) return false;
  // Another namespace's pool would take a ReferenceGrant, which InferGate does not read: such
  // a reference is not followed (its status says RefNotPermitted).
  const std::string ref_ns = string_at(&ref, "namespace");
  if (!ref_ns.empty() && ref_ns != ns) return false;
  return pools.contains(ns + "/" + string_at(&ref, "name"));
}

// A route as the gateway can serve it: backendRefs (and RequestMirror filters) to anything but
// an existing InferencePool left out, as a Gateway implementation serves the rest of a route
// whose status says ResolvedRefs False. A rule left with no backend answers 503. What is left
// out is described in `left_out`.
json::object servable_route(json::object route, const std::set<std::string>& pools,
                            std::vector<std::string>& left_out) {
  const std::string ns = string_at(object_at(route, "metadata"), "namespace");
  const std::string where =
      "HTTPRoute " + ns + "/" + string_at(object_at(route, "metadata"), "name");
  const auto leave_out = [&](const json::object* ref, const char* what) {
    const std::string ref_ns = string_at(ref, "namespace");
    left_out.push_back(where + ": " + what + " " + (ref_ns.empty() ? ns : ref_ns) + "/" +
                       string_at(ref, "name") +
                       " left out: not an InferencePool of the route's namespace that exists");
  };
  json::value* spec = route.if_contains("spec");
  json::value* rules = spec && spec->is_object() ? spec->as_object().if_contains("rules") : nullptr;
  if (!rules || !rules->is_array()) return route;
  for (json::value& rule : rules->as_array()) {
    if (!rule.is_object()) continue;
    if (json::value* refs = rule.as_object().if_contains("backendRefs"); refs && refs->is_array()) {
      json::array kept;
      for (const json::value& ref : refs->as_array()) {
        if (ref.is_object() && existing_pool(ref.as_object(), ns, pools))
          kept.push_back(ref);
        else
          leave_out(ref.if_object(), "backendRef");
      }
      *refs = std::move(kept);
    }
    if (json::value* filters = rule.as_object().if_contains("filters");
        filters && filters->is_array()) {
      json::array kept;
      for (const json::value& f : filters->as_array()) {
        const json::object* filter = f.if_object();
        const json::object* mirror = filter ? object_at(*filter, "requestMirror") : nullptr;
        const json::object* target = mirror ? object_at(*mirror, "backendRef") : nullptr;
        if (string_at(filter, "type") == "RequestMirror" &&
            (!target || !existing_pool(*target, ns, pools))) {
          leave_out(target, "RequestMirror to");
          continue;
        }
        kept.push_back(f);
      }
      *filters = std::move(kept);
    }
  }
  return route;
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
      {{"inference.networking.x-k8s.io", "v1alpha2", "inferencemodelrewrites", ""},
       "inference.networking.x-k8s.io/v1alpha2",
       "InferenceModelRewrite"},
      {{"llm-d.ai", "v1alpha2", "inferenceobjectives", ""},
       "llm-d.ai/v1alpha2",
       "InferenceObjective"},
      {{"llm-d.ai", "v1alpha2", "inferencemodelrewrites", ""},
       "llm-d.ai/v1alpha2",
       "InferenceModelRewrite"},
      {{"gateway.networking.k8s.io", "v1", "httproutes", ""},
       "gateway.networking.k8s.io/v1",
       "HTTPRoute"},
      {{"", "v1", "configmaps", ""}, "v1", "ConfigMap"},
      {{"", "v1", "services", ""}, "v1", "Service"},
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

void trim_service(json::object& service) {
  json::object kept_meta, kept_spec;
  if (const json::object* m = object_at(service, "metadata"))
    for (const char* k : {"name", "namespace", "resourceVersion"})
      if (const json::value* v = m->if_contains(k)) kept_meta[k] = *v;
  if (const json::object* s = object_at(service, "spec"))
    for (const char* k : {"type", "clusterIP", "externalName"})
      if (const json::value* v = s->if_contains(k)) kept_spec[k] = *v;
  service = json::object{{"metadata", std::move(kept_meta)}, {"spec", std::move(kept_spec)}};
}

namespace {

// "namespace/name" of the Service an InferencePool names as its endpoint picker (v1
// endpointPickerRef, v1alpha2 extensionRef), or nothing.
std::string picker_service_of(const json::object& pool) {
  const json::object* meta = object_at(pool, "metadata");
  const json::object* spec = object_at(pool, "spec");
  if (!spec) return {};
  const json::object* ref = object_at(*spec, "endpointPickerRef");
  if (!ref) ref = object_at(*spec, "extensionRef");
  const std::string name = string_at(ref, "name");
  if (name.empty()) return {};
  const std::string kind = string_at(ref, "kind");
  if (!kind.empty() && kind != "Service") return {};
  return string_at(meta, "namespace") + "/" + name;
}

}  // namespace

std::string render_picker_services(const ObjectSet& services, const std::set<std::string>& named) {
  std::map<std::string, json::array> by_namespace;
  for (const auto& [key, service] : services) {
    if (!named.contains(key)) continue;
    // A ClusterIP Service's cluster IP, an ExternalName Service's name; a headless one has no
    // one address to call.
    const json::object* spec = object_at(service, "spec");
    const std::string address = string_at(spec, "type") == "ExternalName"
                                    ? string_at(spec, "externalName")
                                    : string_at(spec, "clusterIP");
    if (address.empty() || address == "None") continue;
    const json::object* meta = object_at(service, "metadata");
    by_namespace[string_at(meta, "namespace")].push_back(
        json::object{{"name", string_at(meta, "name")}, {"address", address}});
  }
  std::string out;
  for (auto& [ns, endpoints] : by_namespace) {
    json::object doc;
    doc["apiVersion"] = "infergate.dev/v1alpha1";
    doc["kind"] = "StaticEndpoints";
    doc["metadata"] = json::object{{"name", "kubernetes-pickers"}, {"namespace", ns}};
    doc["spec"] = json::object{{"endpoints", std::move(endpoints)}};
    out += json::serialize(doc);
    out += "\n---\n";
  }
  return out;
}

std::string render_pods(const ObjectSet& pods, const std::string& only_namespace) {
  // namespace -> endpoint entries
  std::map<std::string, json::array> by_namespace;
  for (const auto& [key, pod] : pods) {
    if (!pod_ready(pod)) continue;
    const json::object* meta = object_at(pod, "metadata");
    if (!only_namespace.empty() && string_at(meta, "namespace") != only_namespace) continue;
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

ObjectSet ClusterState::objects_of(const std::string& kind, const std::string& api_version) const {
  std::lock_guard lock(mu_);
  const auto& kinds = watched_kinds();
  for (std::size_t i = 0; i < kinds.size(); ++i)
    if (kinds[i].kind == kind && kinds[i].api_version == api_version) return objects_[i];
  return {};
}

bool ClusterState::synced() const {
  std::lock_guard lock(mu_);
  for (const bool l : listed_)
    if (!l) return false;
  return true;
}

std::string ClusterState::documents(std::vector<std::string>* left_out) const {
  std::lock_guard lock(mu_);
  const auto& kinds = watched_kinds();
  const bool one_pool = !options_.pool_name.empty();
  // With one pool: its v1 object when there is one, else its v1alpha2 object.
  const std::string pool_key = options_.pool_namespace + "/" + options_.pool_name;
  bool v1_pool = false;
  for (std::size_t i = 0; i < kinds.size(); ++i)
    if (kinds[i].kind == "InferencePool" && kinds[i].resource.version == "v1")
      v1_pool = objects_[i].contains(pool_key);
  std::string out;
  // Every object but the Pods, oldest first (creationTimestamp; RFC 3339 UTC sorts as text):
  // where upstream lets the oldest object win a clash, the load order decides.
  struct Entry {
    std::string created;
    std::size_t kind;
    const json::object* object;
  };
  std::vector<Entry> entries;
  for (std::size_t i = 0; i < kinds.size(); ++i) {
    const std::string& kind = kinds[i].kind;
    if (kind == "Pod") {
      out +=
          one_pool ? render_pods(objects_[i], options_.pool_namespace) : render_pods(objects_[i]);
      continue;
    }
    if (kind == "Service") {
      // The gateway calls the pickers its pools name, at their Services' cluster IPs; an
      // endpoint picker picks for its pool itself.
      if (one_pool) continue;
      std::set<std::string> named;
      for (std::size_t p = 0; p < kinds.size(); ++p)
        if (kinds[p].kind == "InferencePool")
          for (const auto& [key, pool] : objects_[p])
            if (std::string ref = picker_service_of(pool); !ref.empty()) named.insert(ref);
      out += render_picker_services(objects_[i], named);
      continue;
    }
    if (one_pool && kind == "HTTPRoute") continue;  // the Gateway in front routes
    if (one_pool && kind == "InferencePool" && v1_pool && kinds[i].resource.version != "v1")
      continue;
    for (const auto& [key, object] : objects_[i]) {
      if (kind == "HTTPRoute" && !route_for(object, options_.gateway)) continue;
      if (one_pool && kind != "ConfigMap" &&
          !of_pool(object, kind, options_.pool_namespace, options_.pool_name))
        continue;
      entries.push_back(
          {string_at(object_at(object, "metadata"), "creationTimestamp"), i, &object});
    }
  }
  std::stable_sort(entries.begin(), entries.end(),
                   [](const Entry& a, const Entry& b) { return a.created < b.created; });
  std::set<std::string> pools;  // "namespace/name" of every InferencePool, either version
  for (std::size_t i = 0; i < kinds.size(); ++i)
    if (kinds[i].kind == "InferencePool")
      for (const auto& [key, object] : objects_[i]) pools.insert(key);
  std::vector<std::string> dropped;
  for (const Entry& e : entries) {
    out += kinds[e.kind].kind == "HTTPRoute"
               ? document_of(servable_route(*e.object, pools, dropped), kinds[e.kind])
               : document_of(*e.object, kinds[e.kind]);
    out += "\n---\n";
  }
  if (left_out) *left_out = std::move(dropped);
  return out;
}

}  // namespace infergate::kube

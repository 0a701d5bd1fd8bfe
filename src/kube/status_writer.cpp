#include "kube/status_writer.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <set>

#include "kube/cluster_state.hpp"
#include "kube/leader_lease.hpp"

namespace infergate::kube {
namespace json = boost::json;

namespace {

constexpr std::chrono::seconds kRequestTimeout{5};
constexpr const char* kGatewayGroup = "gateway.networking.k8s.io";
constexpr const char* kPoolGroup = "inference.networking.k8s.io";

const json::object* object_at(const json::object* o, std::string_view key) {
  if (!o) return nullptr;
  const json::value* v = o->if_contains(key);
  return v ? v->if_object() : nullptr;
}

const json::array* array_at(const json::object* o, std::string_view key) {
  if (!o) return nullptr;
  const json::value* v = o->if_contains(key);
  return v ? v->if_array() : nullptr;
}

std::string string_at(const json::object* o, std::string_view key) {
  if (!o) return {};
  const json::value* v = o->if_contains(key);
  const json::string* s = v ? v->if_string() : nullptr;
  return s ? std::string(*s) : std::string();
}

std::string string_or(const json::object* o, std::string_view key, const std::string& fallback) {
  std::string s = string_at(o, key);
  return s.empty() ? fallback : s;
}

struct GatewayRef {
  std::string ns, name;
};

// Whether `ref` (a parentRef, in an object of namespace `ns`) names the Gateway.
bool names_gateway(const json::object& ref, const std::string& ns, const GatewayRef& gw) {
  return string_or(&ref, "group", kGatewayGroup) == kGatewayGroup &&
         string_or(&ref, "kind", "Gateway") == "Gateway" &&
         string_or(&ref, "namespace", ns) == gw.ns && string_at(&ref, "name") == gw.name;
}

json::object condition(const std::string& type, bool ok, const std::string& reason,
                       const std::string& message, const json::object& meta,
                       const std::string& now) {
  json::object c{{"type", type},
                 {"status", ok ? "True" : "False"},
                 {"reason", reason},
                 {"message", message},
                 {"lastTransitionTime", now}};
  if (const json::value* g = meta.if_contains("generation")) c["observedGeneration"] = *g;
  return c;
}

// `wanted`'s conditions keep their lastTransitionTime from `had`'s when their status is the same.
void keep_transition_times(json::object& wanted, const json::object* had) {
  const json::array* old = array_at(had, "conditions");
  json::array* fresh = wanted["conditions"].if_array();
  if (!old || !fresh) return;
  for (json::value& c : *fresh) {
    json::object& cond = c.as_object();
    for (const json::value& o : *old) {
      const json::object* before = o.if_object();
      if (before && string_at(before, "type") == string_at(&cond, "type") &&
          string_at(before, "status") == string_at(&cond, "status"))
        cond["lastTransitionTime"] = before->at("lastTransitionTime");
    }
  }
}

// The new list of parent entries: those not `ours` kept, then `mine` (transition times kept).
json::array merge_parents(
    const json::array* current, std::vector<json::object> mine,
    const std::function<bool(const json::object&)>& ours,
    const std::function<bool(const json::object&, const json::object&)>& same) {
  json::array out;
  if (current)
    for (const json::value& v : *current) {
      const json::object* entry = v.if_object();
      if (entry && !ours(*entry)) out.push_back(*entry);
    }
  for (json::object& m : mine) {
    if (current)
      for (const json::value& v : *current)
        if (const json::object* entry = v.if_object(); entry && same(*entry, m))
          keep_transition_times(m, entry);
    out.push_back(std::move(m));
  }
  return out;
}

struct Plural {
  std::string api, plural;
};

// Queues `object` with `status` under `field` when that differs from what it has.
void update_if_changed(std::vector<StatusUpdate>& out, const json::object& object,
                       const std::string& field, json::array parents, const Plural& where) {
  const json::object* status = object_at(&object, "status");
  const json::value* current = status ? status->if_contains(field) : nullptr;
  if (current ? *current == json::value(parents) : parents.empty()) return;
  StatusUpdate u;
  u.object = object;
  u.object.erase("managedFields");
  json::object& new_status = u.object["status"].is_object() ? u.object["status"].as_object()
                                                            : u.object["status"].emplace_object();
  new_status[field] = std::move(parents);
  const json::object* meta = object_at(&object, "metadata");
  u.path = where.api + "/namespaces/" + string_at(meta, "namespace") + "/" + where.plural + "/" +
           string_at(meta, "name") + "/status";
  out.push_back(std::move(u));
}

}  // namespace

std::vector<StatusUpdate> status_updates(const StatusInputs& in, const StatusOptions& options,
                                         const std::string& now) {
  std::vector<StatusUpdate> out;
  const auto slash = options.gateway.find('/');
  if (slash == std::string::npos) return out;
  const GatewayRef gw{options.gateway.substr(0, slash), options.gateway.substr(slash + 1)};
  const auto exists = [&](const std::string& key) {
    return in.pools.contains(key) || in.pools_v1alpha2.contains(key);
  };

  // Routes, and the pools they send to ("namespace/name").
  std::set<std::string> used_pools;
  for (const auto& [key, route] : in.routes) {
    const json::object* meta = object_at(&route, "metadata");
    const std::string ns = string_at(meta, "namespace");
    const json::object* spec = object_at(&route, "spec");
    std::vector<json::object> mine;
    const json::array* refs = array_at(spec, "parentRefs");
    bool for_us = false;
    if (refs)
      for (const json::value& r : *refs)
        if (const json::object* ref = r.if_object(); ref && names_gateway(*ref, ns, gw))
          for_us = true;
    if (for_us) {
      bool resolved = true;
      std::string reason = "ResolvedRefs", message = "every backendRef resolved";
      if (const json::array* rules = array_at(spec, "rules"))
        for (const json::value& rule : *rules)
          if (const json::array* backends = array_at(rule.if_object(), "backendRefs"))
            for (const json::value& b : *backends) {
              const json::object* backend = b.if_object();
              const std::string pool =
                  string_or(backend, "namespace", ns) + "/" + string_at(backend, "name");
              if ((string_at(backend, "group") != kPoolGroup &&
                   string_at(backend, "group") != "inference.networking.x-k8s.io") ||
                  string_or(backend, "kind", "InferencePool") != "InferencePool") {
                if (resolved) reason = "InvalidKind";
                if (resolved) message = "backendRef " + pool + " is not an InferencePool";
                resolved = false;
              } else if (string_or(backend, "namespace", ns) != ns) {
                if (resolved) reason = "RefNotPermitted";
                if (resolved)
                  message = "InferencePool " + pool +
                            " is in another namespace; ReferenceGrants are not read";
                resolved = false;
              } else if (!exists(pool)) {
                if (resolved) reason = "BackendNotFound";
                if (resolved) message = "InferencePool " + pool + " does not exist";
                resolved = false;
              } else {
                used_pools.insert(pool);
              }
            }
      for (const json::value& r : *refs) {
        const json::object* ref = r.if_object();
        if (!ref || !names_gateway(*ref, ns, gw)) continue;
        json::object entry{{"parentRef", *ref}, {"controllerName", options.controller}};
        entry["conditions"] =
            json::array{condition("Accepted", true, "Accepted", "served by InferGate", *meta, now),
                        condition("ResolvedRefs", resolved, reason, message, *meta, now)};
        mine.push_back(std::move(entry));
      }
    }
    const auto ours = [&](const json::object& e) {
      return string_at(&e, "controllerName") == options.controller;
    };
    const auto same = [&](const json::object& a, const json::object& b) {
      return ours(a) && a.contains("parentRef") && b.contains("parentRef") &&
             a.at("parentRef") == b.at("parentRef");
    };
    update_if_changed(out, route, "parents",
                      merge_parents(array_at(object_at(&route, "status"), "parents"),
                                    std::move(mine), ours, same),
                      {"/apis/gateway.networking.k8s.io/v1", "httproutes"});
  }

  // Pools: an entry for this Gateway on those its routes use.
  const json::object gateway_ref{
      {"group", kGatewayGroup}, {"kind", "Gateway"}, {"namespace", gw.ns}, {"name", gw.name}};
  const auto pool_entries = [&](const std::string& key, const json::object& pool, bool v1) {
    std::vector<json::object> mine;
    if (!used_pools.contains(key)) return mine;
    const json::object* meta = object_at(&pool, "metadata");
    const json::object* spec = object_at(&pool, "spec");
    // v1: selector.matchLabels; v1alpha2: selector is the map itself.
    const json::object* labels =
        v1 ? object_at(object_at(spec, "selector"), "matchLabels") : object_at(spec, "selector");
    int ready = 0;
    for (const auto& [pod_key, pod] : in.pods) {
      const json::object* pod_meta = object_at(&pod, "metadata");
      if (string_at(pod_meta, "namespace") != string_at(meta, "namespace") || !pod_ready(pod))
        continue;
      const json::object* pod_labels = object_at(pod_meta, "labels");
      bool match = labels != nullptr;
      if (labels)
        for (const auto& [k, v] : *labels)
          if (!pod_labels || !pod_labels->contains(k) || pod_labels->at(k) != v) match = false;
      ready += match;
    }
    const std::string accepted =
        ready == 0 ? "accepted; no Ready Pod matches its selector yet"
                   : "accepted; " + std::to_string(ready) + " Ready Pod(s) match its selector";
    json::object entry{{"parentRef", gateway_ref}};
    if (v1) entry["controllerName"] = options.controller;
    entry["conditions"] = json::array{
        condition("Accepted", true, "Accepted", accepted, *meta, now),
        condition("ResolvedRefs", true, "ResolvedRefs", "all references resolved", *meta, now)};
    mine.push_back(std::move(entry));
    return mine;
  };
  for (const auto& [key, pool] : in.pools) {
    const auto ours = [&](const json::object& e) {
      return string_at(&e, "controllerName") == options.controller;
    };
    const auto same = [&](const json::object& a, const json::object&) { return ours(a); };
    update_if_changed(out, pool, "parents",
                      merge_parents(array_at(object_at(&pool, "status"), "parents"),
                                    pool_entries(key, pool, true), ours, same),
                      {"/apis/inference.networking.k8s.io/v1", "inferencepools"});
  }
  for (const auto& [key, pool] : in.pools_v1alpha2) {
    std::vector<json::object> mine = pool_entries(key, pool, false);
    const bool using_it = !mine.empty();
    const auto ours = [&](const json::object& e) {
      const json::object* ref = object_at(&e, "parentRef");
      if (!ref) return false;
      const bool placeholder =
          string_at(ref, "kind") == "Status" && string_at(ref, "name") == "default";
      return (placeholder && using_it) || names_gateway(*ref, gw.ns, gw);
    };
    const auto same = [&](const json::object& a, const json::object&) {
      const json::object* ref = object_at(&a, "parentRef");
      return ref && names_gateway(*ref, gw.ns, gw);
    };
    update_if_changed(
        out, pool, "parent",
        merge_parents(array_at(object_at(&pool, "status"), "parent"), std::move(mine), ours, same),
        {"/apis/inference.networking.x-k8s.io/v1alpha2", "inferencepools"});
  }
  return out;
}

std::vector<std::string> write_status(ApiTransport& api, StatusInputs in,
                                      const StatusOptions& options) {
  std::vector<std::string> failures;
  for (StatusUpdate u : status_updates(in, options, micro_time_now().substr(0, 19) + "Z")) {
    for (int attempt = 0;; ++attempt) {
      const ApiResponse r =
          api.send("PUT", u.path, json::serialize(u.object), "application/json", kRequestTimeout);
      if (r.status == 200 || r.status == 404) break;  // written, or the object is gone
      if (r.status != 409 || attempt == 2) {
        failures.push_back("writing " + u.path + ": " +
                           (r.status == 0 ? r.error : std::to_string(r.status) + " " + r.body));
        break;
      }
      // Someone else wrote the object since it was read: read it again, recompute, retry.
      const std::string object_path = u.path.substr(0, u.path.size() - 7);
      const ApiResponse fresh = api.get(object_path, kRequestTimeout);
      if (fresh.status != 200) break;
      json::object object;
      try {
        object = json::parse(fresh.body).as_object();
      } catch (const std::exception&) {
        break;
      }
      const json::object* meta = object_at(&object, "metadata");
      const std::string key = string_at(meta, "namespace") + "/" + string_at(meta, "name");
      ObjectSet& set = object_path.find("/httproutes/") != std::string::npos ? in.routes
                       : object_path.find("/v1alpha2/") != std::string::npos ? in.pools_v1alpha2
                                                                             : in.pools;
      set[key] = std::move(object);
      bool found = false;
      for (StatusUpdate& again : status_updates(in, options, micro_time_now().substr(0, 19) + "Z"))
        if (again.path == u.path) {
          u = std::move(again);
          found = true;
        }
      if (!found) break;  // nothing to change any more
    }
  }
  return failures;
}

}  // namespace infergate::kube

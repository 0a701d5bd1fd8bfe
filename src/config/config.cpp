#include "config/config.hpp"

#include <algorithm>
#include <map>
#include <set>
#include <sstream>

namespace infergate::config {
namespace {

std::string qualified(const ObjectMeta& m) { return m.ns + "/" + m.name; }

bool selects(const std::map<std::string, std::string>& selector,
             const std::map<std::string, std::string>& labels) {
  for (const auto& [k, v] : selector) {
    auto it = labels.find(k);
    if (it == labels.end() || it->second != v) return false;
  }
  return true;
}

template <typename T>
void check_unique_names(const std::vector<T>& items, std::string_view kind, Diagnostics& diag) {
  std::set<std::string> seen;
  for (const auto& item : items)
    if (!seen.insert(qualified(item.meta)).second)
      diag.error(item.meta.where, "metadata.name",
                 std::string("duplicate ") + std::string(kind) + " " + qualified(item.meta));
}

// Whether a pool of namespace `ns` names the StaticEndpoints entry `name` as its endpoint
// picker: such an entry is a picker, never a model server, whatever its labels.
bool names_a_picker(const Resources& r, const std::string& ns, const std::string& name) {
  return std::any_of(r.pools.begin(), r.pools.end(), [&](const InferencePool& p) {
    return p.meta.ns == ns && p.endpoint_picker && *p.endpoint_picker == name;
  });
}

void resolve_endpoints(const Resources& r, PoolConfig& pool, Diagnostics& diag) {
  for (const auto& set : r.endpoint_sets) {
    if (set.meta.ns != pool.ns()) continue;
    for (const auto& e : set.endpoints) {
      if (!selects(pool.resource.selector, e.labels)) continue;
      if (names_a_picker(r, pool.ns(), e.name)) continue;
      const auto make = [&](std::string name, std::uint16_t port) {
        EndpointSpec spec{std::move(name), e.host,  port, e.metrics_port.value_or(port),
                          e.engine,        e.labels};
        pool.endpoints.push_back(std::move(spec));
      };
      if (e.port) {
        make(e.name, *e.port);  // an explicit port alone serves
      } else if (pool.resource.target_ports.size() == 1) {
        make(e.name, pool.resource.target_ports.front());
      } else {
        for (std::size_t i = 0; i < pool.resource.target_ports.size(); ++i)
          make(e.name + "-rank-" + std::to_string(i), pool.resource.target_ports[i]);
      }
    }
  }
  if (pool.endpoints.empty())
    diag.warn(
        pool.resource.meta.where, "spec.selector",
        "pool " + qualified(pool.resource.meta) + " selects no endpoints: its requests get 503");
}

// The endpoint picker a pool names is where the StaticEndpoints entry of that name (in the
// pool's namespace) says; without such an entry the reference is ignored, as before pickers
// could be called, and InferGate picks for the pool itself.
void resolve_picker(const Resources& r, PoolConfig& pool, Diagnostics& diag) {
  const InferencePool& res = pool.resource;
  if (!res.endpoint_picker) return;
  for (const auto& set : r.endpoint_sets) {
    if (set.meta.ns != pool.ns()) continue;
    for (const auto& e : set.endpoints) {
      if (e.name != *res.endpoint_picker) continue;
      const std::uint16_t port = res.endpoint_picker_port.value_or(e.port.value_or(9002));
      const bool v6 = e.host.find(':') != std::string::npos;
      pool.picker = PoolConfig::PickerService{
          e.name, (v6 ? "[" + e.host + "]" : e.host) + ":" + std::to_string(port),
          res.failure_mode};
      return;
    }
  }
  diag.warn(res.endpoint_picker_where, res.endpoint_picker_field,
            "ignored: no StaticEndpoints entry named '" + *res.endpoint_picker + "' in namespace " +
                pool.ns() + " says where the picker is, so InferGate picks the endpoints itself");
}

}  // namespace

std::optional<std::size_t> Config::find_pool(const std::string& ns, const std::string& name) const {
  for (std::size_t i = 0; i < pools.size(); ++i)
    if (pools[i].ns() == ns && pools[i].name() == name) return i;
  return std::nullopt;
}

namespace {

// Each UpstreamPolicy applies to one pool, and a pool has at most one. TLS contexts are built
// here, so a CA file without certificates or a client key that does not match fails the load.
void resolve_upstream_policies(const Resources& r, Config& config, Diagnostics& diag) {
  check_unique_names(r.upstream_policies, "UpstreamPolicy", diag);
  for (const auto& policy : r.upstream_policies) {
    const auto idx = config.find_pool(policy.meta.ns, policy.pool);
    if (!idx) {
      diag.error(policy.meta.where, "spec.targetRef.name",
                 "InferencePool " + policy.meta.ns + "/" + policy.pool + " does not exist");
      continue;
    }
    PoolConfig& pool = config.pools[*idx];
    if (!pool.upstream_policy.empty()) {
      diag.error(policy.meta.where, "spec.targetRef.name",
                 "pool " + qualified(pool.resource.meta) + " already has UpstreamPolicy " +
                     pool.upstream_policy);
      continue;
    }
    pool.upstream_policy = policy.meta.name;
    pool.credential = policy.credential;
    if (!policy.tls) continue;
    const UpstreamTlsSpec& spec = *policy.tls;
    tls::ClientSettings settings;
    settings.ca_pem = spec.ca_pem;
    settings.client_chain_pem = spec.client_cert_pem;
    settings.client_key_pem = spec.client_key_pem;
    settings.min_version = spec.min_version == "1.3" ? tls::Version::kTls13 : tls::Version::kTls12;
    settings.verify = !spec.insecure_skip_verify;
    tls::Built built = tls::make_client_context(settings, std::chrono::system_clock::now());
    if (!built.context) {
      diag.error(policy.meta.where, "spec.tls", built.error);
      continue;
    }
    std::string summary = spec.insecure_skip_verify ? "any certificate (insecureSkipVerify)"
                          : spec.ca_file.empty()    ? "system CAs"
                                                    : "CA " + spec.ca_file;
    if (!spec.server_name.empty()) summary += ", name " + spec.server_name;
    if (!spec.client_cert_file.empty()) summary += ", client certificate " + spec.client_cert_file;
    summary += ", TLS " + spec.min_version + "+";
    pool.upstream_tls = PoolConfig::UpstreamTls{std::move(built.context), spec.server_name,
                                                !spec.insecure_skip_verify, std::move(summary)};
  }
}

}  // namespace

BuildResult build_config(LoadResult loaded, std::vector<std::string> files,
                         const ConfigValidator& validate) {
  BuildResult out;
  out.diagnostics = std::move(loaded.diagnostics);
  Diagnostics& diag = out.diagnostics;
  Resources& r = loaded.resources;
  auto config = std::make_shared<Config>();
  config->skipped = r.skipped;
  config->files = std::move(files);

  check_unique_names(r.pools, "InferencePool", diag);
  check_unique_names(r.models, "InferenceModel", diag);
  check_unique_names(r.objectives, "InferenceObjective", diag);
  check_unique_names(r.rewrites, "InferenceModelRewrite", diag);
  check_unique_names(r.routes, "HTTPRoute", diag);
  check_unique_names(r.endpoint_sets, "StaticEndpoints", diag);
  check_unique_names(r.api_key_sets, "ApiKeys", diag);
  for (const auto& set : r.api_key_sets)
    for (const auto& k : set.keys)
      if (!config->api_keys.emplace(k.key, Config::Grant{k.tenant, k.max_priority}).second)
        diag.error(k.where, "spec.keys.key", "the same key is listed twice");

  for (auto& pool : r.pools) {
    PoolConfig pc;
    pc.resource = pool;
    if (auto it = pool.meta.annotations.find("infergate.dev/scheduling-profile");
        it != pool.meta.annotations.end())
      pc.scheduling_profile = it->second;
    resolve_endpoints(r, pc, diag);
    resolve_picker(r, pc, diag);
    config->pools.push_back(std::move(pc));
  }
  resolve_upstream_policies(r, *config, diag);
  {
    std::set<std::string> endpoint_names;
    for (const auto& set : r.endpoint_sets)
      for (const auto& e : set.endpoints)
        if (!endpoint_names.insert(set.meta.ns + "/" + e.name).second)
          diag.error(e.where, "name", "endpoint " + e.name + " is declared twice");
  }

  const auto pool_for = [&](const PoolRef& ref, const ObjectMeta& meta) -> PoolConfig* {
    auto idx = config->find_pool(meta.ns, ref.name);
    if (!idx) {
      diag.error(meta.where, "spec.poolRef.name",
                 "InferencePool " + meta.ns + "/" + ref.name + " does not exist");
      return nullptr;
    }
    return &config->pools[*idx];
  };
  for (auto& model : r.models) {
    PoolConfig* pool = pool_for(model.pool, model.meta);
    if (!pool) continue;
    auto [it, inserted] = pool->models.emplace(model.model_name, model);
    if (!inserted)
      diag.error(model.meta.where, "spec.modelName",
                 "model name '" + model.model_name + "' is already declared for pool " +
                     qualified(pool->resource.meta) + " by InferenceModel " +
                     qualified(it->second.meta));
  }
  for (auto& objective : r.objectives) {
    if (PoolConfig* pool = pool_for(objective.pool, objective.meta))
      pool->objectives.emplace(objective.meta.name, objective);
  }
  std::vector<const InferenceModelRewrite*> rewrites;  // oldest first
  for (const auto& rewrite : r.rewrites) rewrites.push_back(&rewrite);
  std::stable_sort(rewrites.begin(), rewrites.end(),
                   [](const auto* a, const auto* b) { return a->meta.order < b->meta.order; });
  for (const InferenceModelRewrite* rewrite : rewrites) {
    PoolConfig* pool = pool_for(rewrite->pool, rewrite->meta);
    if (!pool) continue;
    for (ModelRewriteRule rule : rewrite->rules) {
      rule.rewrite_name = rewrite->meta.name;
      if (rule.models.empty() && !pool->default_rewrite) pool->default_rewrite = rule;
      for (const std::string& model : rule.models) pool->model_rewrites.emplace(model, rule);
    }
  }

  for (const auto& route : r.routes) {
    for (std::size_t i = 0; i < route.rules.size(); ++i) {
      const RouteRule& rule = route.rules[i];
      ResolvedRule rr;
      rr.route = qualified(route.meta);
      rr.route_order = route.meta.order;
      rr.rule_index = i;
      rr.matches = rule.matches.empty() ? std::vector<RouteMatch>{RouteMatch{}} : rule.matches;
      rr.request_timeout = rule.request_timeout;
      const std::string field = "spec.rules[" + std::to_string(i) + "]";
      for (const auto& b : rule.backends) {
        const std::string ns = b.ns.empty() ? route.meta.ns : b.ns;
        auto idx = config->find_pool(ns, b.pool);
        if (!idx) {
          diag.error(b.where, field + ".backendRefs.name",
                     "InferencePool " + ns + "/" + b.pool + " does not exist");
          continue;
        }
        const auto& ports = config->pools[*idx].resource.target_ports;
        if (b.port && std::find(ports.begin(), ports.end(), *b.port) == ports.end())
          diag.error(b.where, field + ".backendRefs.port",
                     "port " + std::to_string(*b.port) + " is not a target port of InferencePool " +
                         ns + "/" + b.pool);
        rr.backends.push_back({*idx, b.weight});
      }
      for (const auto& m : rule.mirrors) {
        const std::string ns = m.ns.empty() ? route.meta.ns : m.ns;
        if (auto idx = config->find_pool(ns, m.pool))
          rr.mirrors.push_back({*idx, m.fraction});
        else
          diag.error(route.meta.where, field + ".filters.requestMirror.backendRef.name",
                     "InferencePool " + ns + "/" + m.pool + " does not exist");
      }
      config->rules.push_back(std::move(rr));
    }
  }
  // Embedded texts: the ones a Deployment's --config-file names, or every one when none does.
  for (const auto& e : r.embedded_picker_configs) {
    const bool chosen = r.picker_config_files.empty() ||
                        std::find(r.picker_config_files.begin(), r.picker_config_files.end(),
                                  e.key) != r.picker_config_files.end();
    if (!chosen) {
      config->skipped.push_back(e.name + ": EndpointPickerConfig " + e.key +
                                ": not the --config-file of any endpoint picker Deployment");
      continue;
    }
    LoadResult embedded;
    load_text(e.text, e.name, embedded);
    for (auto& d : embedded.diagnostics.errors) diag.errors.push_back(std::move(d));
    for (auto& d : embedded.diagnostics.warnings) diag.warnings.push_back(std::move(d));
    for (auto& pc : embedded.resources.picker_configs) r.picker_configs.push_back(std::move(pc));
  }
  if (r.picker_configs.size() > 1) {
    for (std::size_t i = 1; i < r.picker_configs.size(); ++i)
      diag.error(r.picker_configs[i].where, "kind",
                 "a second EndpointPickerConfig (the first is at " +
                     r.picker_configs[0].where.file + ":" +
                     std::to_string(r.picker_configs[0].where.line) +
                     "); InferGate takes one and selects profiles per pool with the annotation "
                     "infergate.dev/scheduling-profile");
  } else if (!r.picker_configs.empty()) {
    config->picker = std::move(r.picker_configs.front());
  }
  if (diag.ok() && validate) validate(*config, diag);
  config->warnings = diag.warnings;
  if (diag.ok()) out.config = std::move(config);
  return out;
}

BuildResult load_config(const std::vector<std::string>& paths, const ConfigValidator& validate,
                        const std::string& more, const std::string& more_name) {
  LoadResult loaded = load_files(paths);
  if (!more.empty()) load_text(more, more_name, loaded);
  return build_config(std::move(loaded), paths, validate);
}

std::string dump(const Config& c) {
  std::ostringstream o;
  for (const auto& p : c.pools) {
    o << "pool " << p.ns() << "/" << p.name() << " (" << p.resource.api_version << ")\n";
    o << "  selector:";
    for (const auto& [k, v] : p.resource.selector) o << " " << k << "=" << v;
    o << "\n  targetPorts:";
    for (auto port : p.resource.target_ports) o << " " << port;
    o << "\n  appProtocol: " << p.resource.app_protocol << "\n";
    if (!p.scheduling_profile.empty()) o << "  schedulingProfile: " << p.scheduling_profile << "\n";
    if (p.upstream_tls) o << "  upstreamTLS: " << p.upstream_tls->summary << "\n";
    if (p.credential)  // never the value
      o << "  upstreamCredential: " << p.credential->header << " from " << p.credential->source
        << "\n";
    if (p.picker)
      o << "  endpointPicker: " << p.picker->name << " at " << p.picker->address << ", failureMode "
        << (p.picker->failure_mode == FailureMode::kFailOpen ? "FailOpen" : "FailClose") << "\n";
    else if (p.resource.endpoint_picker)
      o << "  endpointPicker: " << *p.resource.endpoint_picker
        << " (ignored: no StaticEndpoints entry of that name)\n";
    for (const auto& e : p.endpoints)
      o << "  endpoint " << e.name << " " << e.host << ":" << e.port
        << " metrics:" << e.metrics_port << " engine:" << e.engine << "\n";
    std::vector<std::string> names;
    for (const auto& [name, m] : p.models) names.push_back(name);
    std::sort(names.begin(), names.end());
    for (const auto& name : names) {
      const auto& m = p.models.at(name);
      o << "  model " << name << " criticality:" << criticality_name(m.criticality);
      for (const auto& t : m.targets) o << " target:" << t.name << "*" << t.weight;
      o << "\n";
    }
    names.clear();
    for (const auto& [name, obj] : p.objectives) names.push_back(name);
    std::sort(names.begin(), names.end());
    for (const auto& name : names)
      o << "  objective " << name << " priority:" << p.objectives.at(name).priority << "\n";
    const auto rewrite_targets = [&](const ModelRewriteRule& rule) {
      for (const auto& t : rule.targets) o << " target:" << t.name << "*" << t.weight;
      o << "\n";
    };
    names.clear();
    for (const auto& [name, rule] : p.model_rewrites) names.push_back(name);
    std::sort(names.begin(), names.end());
    for (const auto& name : names) {
      o << "  rewrite " << name;
      rewrite_targets(p.model_rewrites.at(name));
    }
    if (p.default_rewrite) {
      o << "  rewrite *";
      rewrite_targets(*p.default_rewrite);
    }
  }
  for (const auto& r : c.rules) {
    o << "route " << r.route << " rule " << r.rule_index << "\n";
    for (const auto& m : r.matches) {
      o << "  match path " << (m.path.type == PathMatch::Type::kExact ? "Exact " : "PathPrefix ")
        << m.path.value;
      for (const auto& h : m.headers) o << " header " << h.name << "=" << h.value;
      o << "\n";
    }
    for (const auto& b : r.backends)
      o << "  backend " << c.pools[b.pool].ns() << "/" << c.pools[b.pool].name() << " weight "
        << b.weight << "\n";
    for (const auto& m : r.mirrors)
      o << "  mirror " << c.pools[m.pool].ns() << "/" << c.pools[m.pool].name() << " fraction "
        << m.fraction << "\n";
    if (r.request_timeout) o << "  timeout " << r.request_timeout->count() << "ms\n";
  }
  if (c.picker) {
    for (const auto& p : c.picker->plugins) {
      o << "picker plugin " << p.name << " type " << p.type;
      for (const auto& f : p.parameters.fields)
        o << " " << f.key << "=" << (f.is_map ? "{...}" : f.value);
      o << "\n";
    }
    for (const auto& prof : c.picker->profiles) {
      o << "picker profile " << prof.name << ":";
      for (const auto& ref : prof.plugins) {
        o << " " << ref.plugin_ref;
        if (ref.weight) o << "*" << *ref.weight;
      }
      o << "\n";
    }
    if (c.picker->metrics_staleness)
      o << "picker metricsStaleness " << c.picker->metrics_staleness->count() << "ms\n";
    if (c.picker->queue_depth_threshold)
      o << "picker queueDepthThreshold " << *c.picker->queue_depth_threshold << "\n";
    if (c.picker->kv_cache_util_threshold)
      o << "picker kvCacheUtilThreshold " << *c.picker->kv_cache_util_threshold << "\n";
  }
  if (!c.api_keys.empty()) {  // never the keys themselves
    std::map<std::string, std::int64_t> tenants;
    for (const auto& [key, grant] : c.api_keys)
      tenants[grant.tenant] = std::max(tenants[grant.tenant], grant.max_priority);
    o << "api keys " << c.api_keys.size() << ":";
    for (const auto& [tenant, max] : tenants) o << " " << tenant << "(maxPriority " << max << ")";
    o << "\n";
  }
  for (const auto& s : c.skipped) o << "skipped " << s.substr(s.find(": ") + 2) << "\n";
  return o.str();
}

}  // namespace infergate::config

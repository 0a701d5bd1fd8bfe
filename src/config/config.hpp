// The validated, resolved configuration the data path reads: pools with their endpoints,
// models and objectives indexed per pool, and every route rule with its backends resolved to
// pools. Built once per load from Resources; immutable afterwards, and shared between threads
// through std::shared_ptr<const Config> (a reload builds a new one and swaps the pointer).
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "config/diagnostics.hpp"
#include "config/load_resources.hpp"
#include "config/resources.hpp"
#include "tls/tls_context.hpp"

namespace infergate::config {

struct EndpointSpec {
  std::string name;  // the StaticEndpoints entry, or "<entry>-rank-<i>" with several ports
  std::string host;
  std::uint16_t port = 0;
  std::uint16_t metrics_port = 0;
  std::string engine = "vllm";
  std::map<std::string, std::string> labels;
  // Identity across reloads: the same name and address is the same endpoint.
  std::string key() const { return name + "@" + host + ":" + std::to_string(port); }
};

struct PoolConfig {
  InferencePool resource;
  std::vector<EndpointSpec> endpoints;
  std::unordered_map<std::string, InferenceModel> models;          // by modelName
  std::unordered_map<std::string, InferenceObjective> objectives;  // by name
  // From the pool's InferenceModelRewrites: the rule of each model an exact match names (the
  // oldest object's first such rule), and the oldest catch-all rule for every other model.
  std::unordered_map<std::string, ModelRewriteRule> model_rewrites;
  std::optional<ModelRewriteRule> default_rewrite;
  // Annotation infergate.dev/scheduling-profile: a profile of the EndpointPickerConfig or a
  // ready-made one; empty: the configuration's (or the gateway's) default.
  std::string scheduling_profile;
  // From the pool's UpstreamPolicy (named in `upstream_policy`): TLS to its model servers, the
  // context built and its files checked at load; and the credential header they are sent.
  struct UpstreamTls {
    tls::ContextPtr context;
    std::string server_name;  // empty: each endpoint's host
    bool verify = true;
    std::string summary;  // for dumps: where trust comes from
  };
  std::string upstream_policy;
  // The endpoint picker that picks for this pool (InferGate's own when absent): where it
  // listens, from the StaticEndpoints entry its reference names, and its failure mode.
  struct PickerService {
    std::string name;
    std::string address;  // host:port (the reference's port, else the entry's, else 9002)
    FailureMode failure_mode = FailureMode::kFailClose;
  };
  std::optional<PickerService> picker;
  std::optional<UpstreamTls> upstream_tls;
  std::optional<UpstreamCredential> credential;
  const std::string& name() const { return resource.meta.name; }
  const std::string& ns() const { return resource.meta.ns; }
};

struct ResolvedBackend {
  std::size_t pool = 0;  // index into Config::pools
  std::int64_t weight = 1;
};

struct ResolvedMirror {
  std::size_t pool = 0;
  double fraction = 1.0;
};

struct ResolvedRule {
  std::string route;  // "<namespace>/<name>" of the HTTPRoute
  int route_order = 0;
  std::size_t rule_index = 0;
  std::vector<RouteMatch> matches;  // never empty: a rule without matches gets "PathPrefix /"
  std::vector<ResolvedBackend> backends;
  std::vector<ResolvedMirror> mirrors;
  std::optional<std::chrono::milliseconds> request_timeout;
};

struct Config {
  std::vector<PoolConfig> pools;
  std::vector<ResolvedRule> rules;  // in file order; the router orders matches by precedence
  std::optional<EndpointPickerConfig> picker;  // at most one per configuration
  struct Grant {
    std::string tenant;
    std::int64_t max_priority = 0;
  };
  std::unordered_map<std::string, Grant> api_keys;  // non-empty: every request needs a listed key
  std::vector<std::string> skipped;
  std::vector<Diagnostic> warnings;
  std::vector<std::string> files;

  std::optional<std::size_t> find_pool(const std::string& ns, const std::string& name) const;
};

struct BuildResult {
  std::shared_ptr<const Config> config;  // null when there are errors
  Diagnostics diagnostics;               // errors and warnings of load and build together
};

// Checks that need knowledge outside the config layer (the scheduler's plugin registry): run
// at the end of a build that has no errors yet; what they report fails the load.
using ConfigValidator = std::function<void(const Config&, Diagnostics&)>;

BuildResult build_config(LoadResult loaded, std::vector<std::string> files = {},
                         const ConfigValidator& validate = {});
// Loads and builds in one step. `more` (documents from another source, the API server's objects,
// read as the file `more_name`) comes after the files.
BuildResult load_config(const std::vector<std::string>& paths, const ConfigValidator& validate = {},
                        const std::string& more = "", const std::string& more_name = "");

// A normalised, deterministic text rendering of what was loaded (golden tests, --check-config).
std::string dump(const Config& config);

}  // namespace infergate::config

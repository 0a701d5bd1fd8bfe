// The Kubernetes-style resources InferGate reads from its configuration file(s), after each
// object was parsed and checked on its own (see load_resources.hpp). Cross-object checks and
// resolution (selectors to endpoints, references to pools) happen in config.hpp.
//
// Plain immutable data; safe to share between threads once built.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace infergate::config {

struct SourceLocation {
  std::string file;
  int line = 0;  // 1-based
  int column = 0;
};

struct ObjectMeta {
  std::string name;
  std::string ns = "default";
  SourceLocation where;
  int order =
      0;  // position in the load: earlier is older (wins name clashes where upstream says so)
  std::map<std::string, std::string> annotations;
};

struct PoolRef {
  std::string group;
  std::string kind = "InferencePool";
  std::string name;
};

enum class FailureMode { kFailClose, kFailOpen };

struct InferencePool {
  ObjectMeta meta;
  std::string api_version;
  std::map<std::string, std::string> selector;
  std::vector<std::uint16_t> target_ports;
  std::string app_protocol = "http";
  // The endpoint picker the pool names (endpointPickerRef / extensionRef): its name, port and
  // what to do when it fails. Standalone, a StaticEndpoints entry of that name says where it
  // is (config.hpp, PoolConfig::picker).
  std::optional<std::string> endpoint_picker;
  std::optional<std::uint16_t> endpoint_picker_port;
  FailureMode failure_mode = FailureMode::kFailClose;
  SourceLocation endpoint_picker_where;  // of the reference, for diagnostics
  std::string endpoint_picker_field;
};

enum class Criticality { kCritical, kStandard, kSheddable };
std::string_view criticality_name(Criticality c);

struct TargetModel {
  std::string name;
  std::int64_t weight = 1;
};

struct InferenceModel {
  ObjectMeta meta;
  std::string model_name;
  Criticality criticality = Criticality::kStandard;
  std::vector<TargetModel> targets;  // empty: the request's model goes through unchanged
  PoolRef pool;
};

struct InferenceObjective {
  ObjectMeta meta;
  std::int64_t priority = 0;
  PoolRef pool;
};

// InferenceModelRewrite (inference.networking.x-k8s.io/v1alpha2, and llm-d.ai/v1alpha2 where
// upstream moved it): the model a request names, rewritten to one of the targets drawn by weight.
struct ModelRewriteRule {
  std::vector<std::string> models;   // exact matches, OR-ed; empty: every request
  std::vector<TargetModel> targets;  // weights on all or none (then 1 each: uniform)
  std::string rewrite_name;          // the InferenceModelRewrite's name (set when it is loaded)
};

struct InferenceModelRewrite {
  ObjectMeta meta;
  std::vector<ModelRewriteRule> rules;
  PoolRef pool;
};

struct PathMatch {
  enum class Type { kPathPrefix, kExact };
  Type type = Type::kPathPrefix;
  std::string value = "/";
};

struct HeaderMatch {
  std::string name;  // lower-cased
  std::string value;
};

struct RouteMatch {
  PathMatch path;
  std::vector<HeaderMatch> headers;
};

struct BackendRef {
  std::string pool;  // InferencePool name, same namespace as the route unless `ns` says
  std::string ns;
  std::int64_t weight = 1;
  std::optional<std::uint16_t> port;
  SourceLocation where;
};

struct MirrorFilter {
  std::string pool;
  std::string ns;
  double fraction = 1.0;  // of requests mirrored
};

struct RouteRule {
  std::vector<RouteMatch> matches;  // empty: matches every request (as "PathPrefix /")
  std::vector<BackendRef> backends;
  std::vector<MirrorFilter> mirrors;
  std::optional<std::chrono::milliseconds> request_timeout;
};

struct HttpRoute {
  ObjectMeta meta;
  std::vector<RouteRule> rules;
};

struct StaticEndpoint {
  std::string name;
  std::string host;
  std::optional<std::uint16_t> port;          // absent: the pool's target ports
  std::optional<std::uint16_t> metrics_port;  // absent: the serving port
  std::map<std::string, std::string> labels;
  std::string engine = "vllm";
  SourceLocation where;
};

struct StaticEndpoints {
  ObjectMeta meta;
  std::vector<StaticEndpoint> endpoints;
};

// ApiKeys (infergate.dev/v1alpha1): with any, every request needs `Authorization: Bearer <key>`
// of a listed key; the key's tenant is the request's fairness id and its maxPriority caps the
// priority the request may claim.
struct ApiKey {
  std::string key;
  std::string tenant;
  std::int64_t max_priority = 0;
  SourceLocation where;
};

struct ApiKeys {
  ObjectMeta meta;
  std::vector<ApiKey> keys;
};

// UpstreamPolicy (infergate.dev/v1alpha1): how the gateway talks to one pool's model servers:
// TLS (trusted CAs, the name to check, a client certificate) and a credential header. Files
// and environment variables are read when the configuration is loaded (every reload).
struct UpstreamTlsSpec {
  std::string ca_file;      // as written; empty: the system trust store
  std::string ca_pem;       // its contents
  std::string server_name;  // SNI and the name the certificate must carry; empty: the host
  std::string client_cert_file, client_key_file;
  std::string client_cert_pem, client_key_pem;
  std::string min_version = "1.2";
  bool insecure_skip_verify = false;
};

struct UpstreamCredential {
  std::string header;  // lower-case
  std::string value;   // the whole header value (prefix and secret): never printed
  std::string source;  // "file <path>" or "env <NAME>", for diagnostics and dumps
};

struct UpstreamPolicy {
  ObjectMeta meta;
  std::string pool;  // spec.targetRef.name: an InferencePool of the same namespace
  std::optional<UpstreamTlsSpec> tls;
  std::optional<UpstreamCredential> credential;
};

// EndpointPickerConfig (inference.networking.x-k8s.io/v1alpha1): the scheduler's plugins and
// profiles, as upstream's endpoint picker reads them (its own document, or embedded in a
// ConfigMap as upstream's Helm chart ships it). Plugin types and parameters are checked by the
// scheduling layer, which owns the plugin registry.
struct PluginParameter {
  std::string key;    // its name in the parent mapping
  std::string value;  // a scalar as written; empty for a mapping
  bool is_map = false;
  std::vector<PluginParameter> fields;  // a mapping's entries, in order
  SourceLocation where;
  std::string path;  // "plugins[i].parameters.x", for diagnostics
  const PluginParameter* field(std::string_view name) const {
    for (const auto& f : fields)
      if (f.key == name) return &f;
    return nullptr;
  }
};

struct PluginSpec {
  std::string name;  // defaults to the type
  std::string type;
  PluginParameter parameters;  // a mapping (empty when absent)
  SourceLocation where;
  std::string path;  // "plugins[i]", for diagnostics
};

struct ProfilePluginRef {
  std::string plugin_ref;
  std::optional<double> weight;  // scorers only; absent means 1
  SourceLocation where;
  std::string path;
};

struct SchedulingProfileSpec {
  std::string name;
  std::vector<ProfilePluginRef> plugins;
  SourceLocation where;
};

struct EndpointPickerConfig {
  std::vector<PluginSpec> plugins;
  std::vector<SchedulingProfileSpec> profiles;
  std::optional<std::chrono::milliseconds>
      metrics_staleness;  // saturationDetector.metricsStalenessThreshold
  std::optional<std::int64_t> queue_depth_threshold;  // saturationDetector.queueDepthThreshold
  std::optional<double> kv_cache_util_threshold;      // saturationDetector.kvCacheUtilThreshold
  SourceLocation where;
};

// Everything one load produced, in file order.
struct Resources {
  std::vector<InferencePool> pools;
  std::vector<InferenceModel> models;
  std::vector<InferenceObjective> objectives;
  std::vector<InferenceModelRewrite> rewrites;
  std::vector<HttpRoute> routes;
  std::vector<StaticEndpoints> endpoint_sets;
  std::vector<EndpointPickerConfig> picker_configs;
  std::vector<ApiKeys> api_key_sets;
  std::vector<UpstreamPolicy> upstream_policies;
  // EndpointPickerConfig texts found in ConfigMaps, parsed when the configuration is built: an
  // endpoint-picker Deployment's --config-file argument chooses among several.
  struct EmbeddedPickerConfig {
    std::string text;
    std::string name;  // "<file> (ConfigMap <name>, data.<key>)"
    std::string key;
  };
  std::vector<EmbeddedPickerConfig> embedded_picker_configs;
  std::vector<std::string> picker_config_files;  // base names from Deployments' --config-file
  std::vector<std::string> skipped;  // "file:line: kind name: why" for each object not used
};

}  // namespace infergate::config

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
  int order = 0;  // position in the load: earlier is older (wins name clashes where upstream says so)
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
  // The external picker reference is accepted but unused in standalone mode.
  std::optional<std::string> endpoint_picker;
  FailureMode failure_mode = FailureMode::kFailClose;
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

// Everything one load produced, in file order.
struct Resources {
  std::vector<InferencePool> pools;
  std::vector<InferenceModel> models;
  std::vector<InferenceObjective> objectives;
  std::vector<HttpRoute> routes;
  std::vector<StaticEndpoints> endpoint_sets;
  std::vector<std::string> skipped;  // "file:line: kind name: why" for each object not used
};

}  // namespace infergate::config

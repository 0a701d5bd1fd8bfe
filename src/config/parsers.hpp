// Per-kind parsers (internal to the config loader). Each reads the object's `spec` through a
// MapReader, so unread keys become "unknown field" errors.
#pragma once

#include "config/resources.hpp"
#include "config/yaml_reader.hpp"

namespace infergate::config {

void parse_inference_pool(MapReader& spec, const std::string& api_version, InferencePool& out);
void parse_inference_model(MapReader& spec, InferenceModel& out);
void parse_inference_objective(MapReader& spec, InferenceObjective& out);
void parse_inference_model_rewrite(MapReader& spec, InferenceModelRewrite& out);
void parse_http_route(MapReader& spec, HttpRoute& out);
void parse_static_endpoints(MapReader& spec, StaticEndpoints& out);
void parse_api_keys(MapReader& spec, ApiKeys& out);
void parse_upstream_policy(MapReader& spec, UpstreamPolicy& out);
// EndpointPickerConfig has no spec: `obj` is the whole object.
void parse_endpoint_picker_config(MapReader& obj, EndpointPickerConfig& out);

// Reads `key` as a sequence, calling `each(node, path)` per item; an error if not a sequence.
template <typename Each>
void for_each_item(MapReader& parent, const std::string& key, Each each) {
  const YAML::Node n = parent.child(key);
  if (!n.IsDefined() || n.IsNull()) return;
  if (!n.IsSequence()) {
    parent.diagnostics().error(location_of(parent.file(), n), parent.path_of(key),
                               "must be a list");
    return;
  }
  std::size_t i = 0;
  for (const auto& item : n) each(item, parent.path_of(key) + "[" + std::to_string(i++) + "]");
}

}  // namespace infergate::config

// InferencePool, in both served versions:
//   inference.networking.k8s.io/v1:  selector.matchLabels, targetPorts[].number, appProtocol,
//                                    endpointPickerRef{group, kind, name, port.number, failureMode}
//   inference.networking.x-k8s.io/v1alpha2: selector (plain map), targetPortNumber,
//                                    extensionRef{group, kind, name, portNumber, failureMode}
#include <algorithm>

#include "config/parsers.hpp"

namespace infergate::config {
namespace {

void parse_failure_mode(MapReader& ref, InferencePool& out) {
  if (auto mode = ref.string("failureMode")) {
    if (*mode == "FailOpen")
      out.failure_mode = FailureMode::kFailOpen;
    else if (*mode == "FailClose")
      out.failure_mode = FailureMode::kFailClose;
    else
      ref.error("failureMode", "must be FailOpen or FailClose, got '" + *mode + "'");
  }
}

void parse_picker_ref_v1(MapReader& spec, InferencePool& out) {
  if (!spec.has("endpointPickerRef")) {
    spec.child("endpointPickerRef");
    return;
  }
  MapReader ref(spec.child("endpointPickerRef"), spec.path_of("endpointPickerRef"), spec.file(),
                spec.diagnostics());
  ref.string("group");
  ref.string("kind");
  out.endpoint_picker = ref.string("name", true);
  if (ref.has("port")) {
    MapReader port(ref.child("port"), ref.path_of("port"), ref.file(), ref.diagnostics());
    if (auto n = port.integer("number", 1, 65535, true))
      out.endpoint_picker_port = static_cast<std::uint16_t>(*n);
  }
  parse_failure_mode(ref, out);
  out.endpoint_picker_where = spec.where("endpointPickerRef");
  out.endpoint_picker_field = spec.path_of("endpointPickerRef");
}

void parse_v1(MapReader& spec, InferencePool& out) {
  if (spec.has("selector")) {
    MapReader selector(spec.child("selector"), spec.path_of("selector"), spec.file(),
                       spec.diagnostics());
    if (auto labels = selector.string_map("matchLabels"))
      out.selector = *labels;
    else
      selector.error("matchLabels", "required field is missing");
  } else {
    spec.error("selector", "required field is missing");
  }
  for_each_item(spec, "targetPorts", [&](const YAML::Node& item, const std::string& path) {
    MapReader port(item, path, spec.file(), spec.diagnostics());
    if (auto n = port.integer("number", 1, 65535, true)) {
      if (std::find(out.target_ports.begin(), out.target_ports.end(), *n) != out.target_ports.end())
        port.error("number", "duplicate target port " + std::to_string(*n));
      else
        out.target_ports.push_back(static_cast<std::uint16_t>(*n));
    }
  });
  if (out.target_ports.empty()) spec.error("targetPorts", "at least one target port is required");
  if (out.target_ports.size() > 8) spec.error("targetPorts", "at most 8 target ports");
  if (auto proto = spec.string("appProtocol")) {
    if (*proto == "kubernetes.io/h2c")
      spec.error("appProtocol", "kubernetes.io/h2c (HTTP/2 upstreams) is not supported yet");
    else if (*proto != "http")
      spec.error("appProtocol", "must be http or kubernetes.io/h2c, got '" + *proto + "'");
    else
      out.app_protocol = *proto;
  }
  parse_picker_ref_v1(spec, out);
}

void parse_v1alpha2(MapReader& spec, InferencePool& out) {
  if (auto labels = spec.string_map("selector"))
    out.selector = *labels;
  else
    spec.error("selector", "required field is missing");
  if (auto port = spec.integer("targetPortNumber", 1, 65535, true))
    out.target_ports.push_back(static_cast<std::uint16_t>(*port));
  if (spec.has("extensionRef")) {
    MapReader ref(spec.child("extensionRef"), spec.path_of("extensionRef"), spec.file(),
                  spec.diagnostics());
    ref.string("group");
    ref.string("kind");
    out.endpoint_picker = ref.string("name", true);
    if (auto n = ref.integer("portNumber", 1, 65535))
      out.endpoint_picker_port = static_cast<std::uint16_t>(*n);
    parse_failure_mode(ref, out);
    out.endpoint_picker_where = spec.where("extensionRef");
    out.endpoint_picker_field = spec.path_of("extensionRef");
  } else {
    spec.child("extensionRef");
  }
}

}  // namespace

void parse_inference_pool(MapReader& spec, const std::string& api_version, InferencePool& out) {
  out.api_version = api_version;
  // An empty selector selects every endpoint, as an empty matchLabels does in Kubernetes.
  if (api_version == "inference.networking.k8s.io/v1")
    parse_v1(spec, out);
  else
    parse_v1alpha2(spec, out);
}

}  // namespace infergate::config

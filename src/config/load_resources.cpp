#include "config/load_resources.hpp"

#include <exception>
#include <fstream>
#include <initializer_list>
#include <set>
#include <sstream>

#include "config/parsers.hpp"
#include "config/yaml_documents.hpp"

namespace infergate::config {
namespace {

// API groups of ordinary Kubernetes (and common gateway vendors') kinds: objects of these are
// skipped with a log line, so the file a user applies to a cluster loads unchanged.
bool is_ignorable_group(const std::string& group) {
  static const std::set<std::string> kGroups = {"",
                                                "apps",
                                                "batch",
                                                "rbac.authorization.k8s.io",
                                                "networking.k8s.io",
                                                "policy",
                                                "autoscaling",
                                                "apiextensions.k8s.io",
                                                "admissionregistration.k8s.io",
                                                "storage.k8s.io",
                                                "scheduling.k8s.io",
                                                "coordination.k8s.io",
                                                "discovery.k8s.io",
                                                "monitoring.coreos.com",
                                                "gateway.networking.k8s.io",
                                                "gateway.networking.x-k8s.io",
                                                "networking.gke.io",
                                                "cloud.google.com",
                                                "networking.istio.io",
                                                "security.istio.io",
                                                "gateway.envoyproxy.io",
                                                "gateway.kgateway.dev",
                                                "agentgateway.dev",
                                                "cert-manager.io"};
  return kGroups.contains(group);
}

std::string group_of(const std::string& api_version) {
  const auto slash = api_version.find('/');
  return slash == std::string::npos ? std::string() : api_version.substr(0, slash);
}

void read_metadata(MapReader& obj, ObjectMeta& meta, const std::string& file, Diagnostics& diag) {
  if (!obj.has("metadata")) {
    obj.error("metadata", "required field is missing");
    return;
  }
  MapReader m(obj.child("metadata"), "metadata", file, diag);
  if (auto n = m.string("name", true)) meta.name = *n;
  if (auto ns = m.string("namespace")) meta.ns = *ns;
  if (auto a = m.string_map("annotations")) meta.annotations = std::move(*a);
  // The rest of Kubernetes' ObjectMeta is valid and meaningless here.
  for (const char* k : {"labels", "generateName", "uid", "resourceVersion", "generation",
                        "creationTimestamp", "deletionTimestamp", "finalizers", "ownerReferences",
                        "managedFields", "deletionGracePeriodSeconds"})
    m.child(k);
}

// The node at `keys` below `node`, or an empty node when a step is missing or not a mapping.
// yaml-cpp throws InvalidNode when a missing key's node is asked anything but IsDefined(), and
// BadSubscript when a scalar is indexed; manifests are untrusted, so every walk goes through here.
YAML::Node find_path(const YAML::Node& node, std::initializer_list<const char*> keys) {
  YAML::Node at(node);
  for (const char* key : keys) {
    if (!at.IsMap()) return YAML::Node();
    const YAML::Node& map = at;  // const: a lookup must not add the key
    const YAML::Node next = map[key];
    if (!next.IsDefined()) return YAML::Node();
    at.reset(next);  // rebinds; `at = next` would overwrite the document's node
  }
  return at;
}

// A ConfigMap may carry an EndpointPickerConfig as the text of one of its data keys (upstream's
// Helm chart ships it so). Such texts are kept and parsed when the configuration is built, as
// files of their own named after the ConfigMap and key. Returns whether one was found.
bool keep_embedded_picker_configs(const YAML::Node& doc, const std::string& file, Resources& out) {
  const YAML::Node data = find_path(doc, {"data"});
  if (!data.IsMap()) return false;
  bool found = false;
  for (const auto& kv : data) {
    if (!kv.second.IsScalar()) continue;
    const std::string& text = kv.second.Scalar();
    if (text.find("EndpointPickerConfig") == std::string::npos) continue;
    const YAML::Node name = find_path(doc, {"metadata", "name"});
    const std::string& key = key_text(kv.first);
    std::string source = file;
    source.append(" (ConfigMap ")
        .append(name.IsScalar() ? name.Scalar() : "?")
        .append(", data.")
        .append(key)
        .append(")");
    out.embedded_picker_configs.push_back({text, std::move(source), key});
    found = true;
  }
  return found;
}

// An endpoint-picker Deployment names its configuration file in its container arguments
// (`-configFile F`, `--config-file F` or `--config-file=F`); the base names are recorded.
void note_picker_config_files(const YAML::Node& doc, Resources& out) {
  const YAML::Node containers = find_path(doc, {"spec", "template", "spec", "containers"});
  if (!containers.IsSequence()) return;
  for (const auto& c : containers) {
    const YAML::Node args = find_path(c, {"args"});
    if (!args.IsSequence()) continue;
    std::string previous;
    for (const auto& a : args) {
      if (!a.IsScalar()) continue;
      std::string value;
      const std::string& arg = a.Scalar();
      if (previous == "-configFile" || previous == "--configFile" || previous == "--config-file" ||
          previous == "-config-file")
        value = arg;
      else if (arg.starts_with("--config-file=") || arg.starts_with("-configFile="))
        value = arg.substr(arg.find('=') + 1);
      if (!value.empty()) out.picker_config_files.push_back(value.substr(value.rfind('/') + 1));
      previous = arg;
    }
  }
}

void load_document(const YAML::Node& doc, const std::string& file, int& order, LoadResult& out) {
  Diagnostics& diag = out.diagnostics;
  if (doc.IsNull()) return;  // empty document between "---" separators
  MapReader obj(doc, "", file, diag);
  if (!obj.valid()) return;
  const std::string api_version = obj.string("apiVersion", true).value_or("");
  const std::string kind = obj.string("kind", true).value_or("");
  if (api_version.empty() || kind.empty()) return;
  const std::string group = group_of(api_version);
  const auto name_of = [&]() -> std::string {
    const YAML::Node n = find_path(doc, {"metadata", "name"});
    return n.IsScalar() ? n.Scalar() : std::string("?");
  };
  const auto skip = [&](const std::string& why) {
    const SourceLocation at = obj.where();
    out.resources.skipped.push_back(at.file + ":" + std::to_string(at.line) + ": " + kind + " " +
                                    name_of() + ": " + why);
    for (const auto& kv : doc) obj.child(key_text(kv.first));
  };

  ObjectMeta meta;
  meta.where = obj.where();
  meta.order = order++;
  const bool inference_group = group == "inference.networking.k8s.io" ||
                               group == "inference.networking.x-k8s.io" || group == "llm-d.ai";
  // InferenceObjective and InferenceModelRewrite: the same shape in both groups (llm-d moved them).
  const bool objective_version =
      api_version == "inference.networking.x-k8s.io/v1alpha2" || api_version == "llm-d.ai/v1alpha2";

  // Reads metadata and spec of a kind InferGate uses into a new element of `into`.
  const auto load = [&](auto& into, auto parse) {
    auto& item = into.emplace_back();
    read_metadata(obj, item.meta, file, diag);
    item.meta.where = meta.where;
    item.meta.order = meta.order;
    MapReader spec(obj.child("spec"), "spec", file, diag);
    parse(spec, item);
  };
  Resources& r = out.resources;
  if (kind == "InferencePool" && (api_version == "inference.networking.k8s.io/v1" ||
                                  api_version == "inference.networking.x-k8s.io/v1alpha2")) {
    load(r.pools,
         [&](MapReader& spec, InferencePool& p) { parse_inference_pool(spec, api_version, p); });
  } else if (kind == "InferenceModel" && api_version == "inference.networking.x-k8s.io/v1alpha2") {
    load(r.models, parse_inference_model);
  } else if (kind == "InferenceObjective" && objective_version) {
    load(r.objectives, parse_inference_objective);
  } else if (kind == "InferenceModelRewrite" && objective_version) {
    load(r.rewrites, parse_inference_model_rewrite);
  } else if (kind == "HTTPRoute" && api_version == "gateway.networking.k8s.io/v1") {
    load(r.routes, parse_http_route);
  } else if (kind == "StaticEndpoints" && api_version == "infergate.dev/v1alpha1") {
    load(r.endpoint_sets, parse_static_endpoints);
  } else if (kind == "ApiKeys" && api_version == "infergate.dev/v1alpha1") {
    load(r.api_key_sets, parse_api_keys);
  } else if (kind == "UpstreamPolicy" && api_version == "infergate.dev/v1alpha1") {
    load(r.upstream_policies, parse_upstream_policy);
  } else if (kind == "EndpointPickerConfig" &&
             (api_version == "inference.networking.x-k8s.io/v1alpha1" ||
              api_version == "llm-d.ai/v1alpha1")) {
    parse_endpoint_picker_config(obj, r.picker_configs.emplace_back());
  } else if (inference_group || group == "infergate.dev" ||
             (kind == "HTTPRoute" && group == "gateway.networking.k8s.io")) {
    diag.error(obj.where("apiVersion"), "apiVersion",
               "unsupported API version " + api_version + " for kind " + kind);
    for (const auto& kv : doc) obj.child(key_text(kv.first));
  } else if (kind == "ConfigMap" && group.empty() && keep_embedded_picker_configs(doc, file, r)) {
    skip("its EndpointPickerConfig is read from it");
  } else if (is_ignorable_group(group)) {
    if (kind == "Deployment") note_picker_config_files(doc, r);
    skip("not used by InferGate");
  } else {
    diag.error(obj.where("kind"), "kind", "unknown kind " + kind + " (" + api_version + ")");
    for (const auto& kv : doc) obj.child(key_text(kv.first));
  }
  // status is written by controllers; accepted on every kind.
  obj.child("status");
}

}  // namespace

void load_text(const std::string& text, const std::string& name, LoadResult& into) {
  int order = static_cast<int>(into.resources.pools.size() + into.resources.models.size() +
                               into.resources.objectives.size() + into.resources.routes.size() +
                               into.resources.endpoint_sets.size() + into.resources.skipped.size());
  const auto docs = parse_yaml_documents(text, name, into.diagnostics);
  if (!docs) return;
  for (const auto& doc : *docs) {
    // Nothing escapes the loader: should a document still make yaml-cpp (or anything) throw,
    // it becomes an error at the document's line.
    try {
      load_document(doc, name, order, into);
    } catch (const std::exception& e) {
      const YAML::Mark mark = doc.Mark();
      into.diagnostics.error(SourceLocation{name, mark.line + 1, mark.column + 1}, "",
                             std::string("cannot read this document: ") + e.what());
    }
  }
}

LoadResult load_files(const std::vector<std::string>& paths) {
  LoadResult out;
  for (const auto& path : paths) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
      out.diagnostics.error(SourceLocation{path, 0, 0}, "", "cannot read the file");
      continue;
    }
    std::ostringstream text;
    text << in.rdbuf();
    load_text(text.str(), path, out);
  }
  return out;
}

}  // namespace infergate::config

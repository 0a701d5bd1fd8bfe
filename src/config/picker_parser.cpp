// EndpointPickerConfig (inference.networking.x-k8s.io/v1alpha1): plugins and scheduling
// profiles. The structure is checked here; plugin types and parameters by the scheduling layer.
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <set>

#include "config/parsers.hpp"

namespace infergate::config {
namespace {

// "150ms", "1s", "2m": Go's time.Duration spelling, the units upstream configurations use.
std::optional<std::chrono::milliseconds> parse_duration(const std::string& text) {
  double value = 0;
  const char* end = text.data() + text.size();
  auto [p, ec] = std::from_chars(text.data(), end, value);
  if (ec != std::errc() || p == text.data() || value < 0) return std::nullopt;
  const std::string_view unit(p, static_cast<std::size_t>(end - p));
  double ms = 0;
  if (unit == "ms")
    ms = value;
  else if (unit == "s")
    ms = value * 1000;
  else if (unit == "m")
    ms = value * 60000;
  else if (unit == "us" || unit == "µs")
    ms = value / 1000;
  else
    return std::nullopt;
  return std::chrono::milliseconds(std::lround(ms));
}

void read_parameter(const YAML::Node& node, const std::string& path, const std::string& file,
                    Diagnostics& diag, PluginParameter& out) {
  out.where = location_of(file, node);
  out.path = path;
  if (node.IsScalar()) {
    out.value = node.Scalar();
  } else if (node.IsMap()) {
    out.is_map = true;
    for (const auto& kv : node) {
      if (!kv.first.IsScalar()) {
        diag.error(location_of(file, kv.first), path, "a parameter name must be a plain string");
        continue;
      }
      const std::string& key = kv.first.Scalar();
      PluginParameter& field = out.fields.emplace_back();
      field.key = key;
      read_parameter(kv.second, std::string(path).append(".").append(key), file, diag, field);
    }
  } else if (!node.IsNull()) {
    diag.error(out.where, path, "must be a scalar or a mapping");
  }
}

void parse_plugin(const YAML::Node& node, const std::string& path, MapReader& parent,
                  EndpointPickerConfig& out) {
  MapReader p(node, path, parent.file(), parent.diagnostics());
  if (!p.valid()) return;
  PluginSpec spec;
  spec.where = p.where();
  spec.path = path;
  if (auto t = p.string("type", true)) spec.type = *t;
  spec.name = p.string("name").value_or(spec.type);
  spec.parameters.is_map = true;
  spec.parameters.where = spec.where;
  spec.parameters.path = path + ".parameters";
  const YAML::Node params = p.child("parameters");
  if (params.IsDefined() && !params.IsNull()) {
    if (params.IsMap())
      read_parameter(params, path + ".parameters", p.file(), p.diagnostics(), spec.parameters);
    else
      parent.diagnostics().error(location_of(p.file(), params), path + ".parameters",
                                 "must be a mapping");
  }
  out.plugins.push_back(std::move(spec));
}

void parse_profile(const YAML::Node& node, const std::string& path, MapReader& parent,
                   EndpointPickerConfig& out) {
  MapReader p(node, path, parent.file(), parent.diagnostics());
  if (!p.valid()) return;
  SchedulingProfileSpec profile;
  profile.where = p.where();
  if (auto n = p.string("name", true)) profile.name = *n;
  for_each_item(p, "plugins", [&](const YAML::Node& item, const std::string& item_path) {
    MapReader r(item, item_path, p.file(), p.diagnostics());
    if (!r.valid()) return;
    ProfilePluginRef ref;
    ref.where = r.where();
    ref.path = item_path;
    if (auto n = r.string("pluginRef", true)) ref.plugin_ref = *n;
    const YAML::Node w = r.child("weight");
    if (w.IsDefined() && !w.IsNull()) {
      double weight = 0;
      if (!w.IsScalar() || !YAML::convert<double>::decode(w, weight) || !(weight >= 0))
        r.error("weight", "must be a non-negative number");
      else
        ref.weight = weight;
    }
    profile.plugins.push_back(std::move(ref));
  });
  out.profiles.push_back(std::move(profile));
}

}  // namespace

void parse_endpoint_picker_config(MapReader& obj, EndpointPickerConfig& out) {
  out.where = obj.where();
  obj.child("metadata");  // optional; carries nothing the picker needs
  for_each_item(obj, "plugins", [&](const YAML::Node& n, const std::string& path) {
    parse_plugin(n, path, obj, out);
  });
  for_each_item(obj, "schedulingProfiles", [&](const YAML::Node& n, const std::string& path) {
    parse_profile(n, path, obj, out);
  });
  if (obj.has("saturationDetector")) {
    MapReader sd(obj.child("saturationDetector"), "saturationDetector", obj.file(),
                 obj.diagnostics());
    if (auto s = sd.string("metricsStalenessThreshold")) {
      if (auto d = parse_duration(*s))
        out.metrics_staleness = *d;
      else
        sd.error("metricsStalenessThreshold", "must be a duration such as 200ms, got '" + *s + "'");
    }
    out.queue_depth_threshold = sd.integer("queueDepthThreshold", 1, 1'000'000);
    if (auto s = sd.string("kvCacheUtilThreshold")) {
      char* end = nullptr;
      const double v = std::strtod(s->c_str(), &end);
      if (end == s->c_str() || *end != '\0' || !(v > 0 && v <= 1))
        sd.error("kvCacheUtilThreshold", "must be a number in (0, 1], got '" + *s + "'");
      else
        out.kv_cache_util_threshold = v;
    }
  }
  obj.ignore("featureGates", "InferGate has no feature gates");
  obj.ignore("parser", "InferGate parses OpenAI requests itself");
  // Upstream named the data layer's section `data`, later `dataLayer`.
  obj.ignore("data", "InferGate scrapes /metrics with its built-in engine mappings");
  obj.ignore("dataLayer", "InferGate scrapes /metrics with its built-in engine mappings");
  obj.ignore("flowControl", "InferGate's flow control is configured by its command-line flags");

  std::set<std::string> names;
  for (const auto& p : out.plugins)
    if (!p.name.empty() && !names.insert(p.name).second)
      obj.diagnostics().error(p.where, p.path + ".name", "duplicate plugin name '" + p.name + "'");
  std::set<std::string> profile_names;
  for (const auto& prof : out.profiles) {
    if (!profile_names.insert(prof.name).second)
      obj.diagnostics().error(prof.where, "schedulingProfiles",
                              "duplicate profile name '" + prof.name + "'");
    for (const auto& ref : prof.plugins)
      if (!names.contains(ref.plugin_ref))
        obj.diagnostics().error(ref.where, ref.path + ".pluginRef",
                                "no plugin named '" + ref.plugin_ref + "' in plugins");
  }
  if (out.profiles.empty() && !out.plugins.empty())
    obj.error("schedulingProfiles", "at least one scheduling profile is required");
}

}  // namespace infergate::config

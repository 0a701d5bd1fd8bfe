#include "gateway/scheduling/framework/registry.hpp"

#include <charconv>
#include <cmath>

#include "gateway/scheduling/plugins/builtin.hpp"

namespace infergate::gateway::scheduling {

Parameters::~Parameters() {
  for (const auto& f : spec_.parameters.fields)
    if (!read_.contains(f.key))
      diag_.error(f.where, f.path, "unknown parameter for plugin type " + spec_.type);
}

const config::PluginParameter* Parameters::take(std::string_view key) {
  read_.insert(std::string(key));
  return spec_.parameters.field(key);
}

const config::PluginParameter* Parameters::raw(std::string_view key) { return take(key); }

void Parameters::error(const config::PluginParameter& at, const std::string& message) {
  failed_ = true;
  diag_.error(at.where, at.path, message);
}

void Parameters::error(const std::string& message) {
  failed_ = true;
  diag_.error(spec_.where, spec_.path, message);
}

double Parameters::number(std::string_view key, double fallback, double min, double max) {
  const config::PluginParameter* p = take(key);
  if (!p) return fallback;
  double v = 0;
  const char* end = p->value.data() + p->value.size();
  auto [ptr, ec] = std::from_chars(p->value.data(), end, v);
  if (p->is_map || ec != std::errc() || ptr != end || !std::isfinite(v)) {
    error(*p, "must be a number, got '" + p->value + "'");
    return fallback;
  }
  if (v < min || v > max) {
    error(*p, "must be between " + std::to_string(min) + " and " + std::to_string(max));
    return fallback;
  }
  return v;
}

std::int64_t Parameters::integer(std::string_view key, std::int64_t fallback, std::int64_t min,
                                 std::int64_t max) {
  const config::PluginParameter* p = take(key);
  if (!p) return fallback;
  std::int64_t v = 0;
  const char* end = p->value.data() + p->value.size();
  auto [ptr, ec] = std::from_chars(p->value.data(), end, v);
  if (p->is_map || ec != std::errc() || ptr != end) {
    error(*p, "must be an integer, got '" + p->value + "'");
    return fallback;
  }
  if (v < min || v > max) {
    error(*p, "must be between " + std::to_string(min) + " and " + std::to_string(max));
    return fallback;
  }
  return v;
}

void PluginRegistry::add(std::string type, PluginFactory factory) {
  factories_[std::move(type)] = std::move(factory);
}

void PluginRegistry::alias(std::string type, std::string of) {
  aliases_[std::move(type)] = std::move(of);
}

std::shared_ptr<Plugin> PluginRegistry::create(const config::PluginSpec& spec,
                                               config::Diagnostics& diag,
                                               const PluginLookup& lookup) const {
  std::string type = spec.type;
  if (auto a = aliases_.find(type); a != aliases_.end()) type = a->second;
  auto it = factories_.find(type);
  if (it == factories_.end()) {
    std::string known;
    for (const auto& [name, f] : factories_) known += (known.empty() ? "" : ", ") + name;
    diag.error(spec.where, spec.path + ".type",
               "unknown plugin type '" + spec.type + "' (known: " + known + ")");
    return nullptr;
  }
  std::shared_ptr<Plugin> plugin;
  {
    Parameters params(spec, diag);
    plugin = it->second(params, lookup);
    if (!params.ok()) plugin = nullptr;
  }
  if (plugin) {
    plugin->type = type;
    plugin->name = spec.name;
  }
  return plugin;
}

const PluginRegistry& builtin_plugins() {
  static const PluginRegistry registry = [] {
    PluginRegistry r;
    register_builtin_plugins(r);
    return r;
  }();
  return registry;
}

std::string_view extension_point_name(ExtensionPoint point) {
  switch (point) {
    case ExtensionPoint::kFilter:
      return "Filter";
    case ExtensionPoint::kScorer:
      return "Scorer";
    case ExtensionPoint::kPicker:
      return "Picker";
    case ExtensionPoint::kOther:
      return "Other";
  }
  return "Other";
}

}  // namespace infergate::gateway::scheduling

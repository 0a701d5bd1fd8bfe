// Plugins by type name. A factory reads the plugin's parameters through Parameters (typed,
// bounded, unknown keys reported with file, line and field) and returns the plugin, or null
// after reporting an error.
//
// Thread-safety: the built-in registry is filled once, before first use, and read-only after.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>

#include "config/diagnostics.hpp"
#include "config/resources.hpp"
#include "gateway/scheduling/framework/plugin.hpp"

namespace infergate::gateway::scheduling {

class Parameters {
 public:
  Parameters(const config::PluginSpec& spec, config::Diagnostics& diag)
      : spec_(spec), diag_(diag) {}
  Parameters(const Parameters&) = delete;
  Parameters& operator=(const Parameters&) = delete;
  ~Parameters();  // reports parameters nobody read

  double number(std::string_view key, double fallback, double min, double max);
  std::int64_t integer(std::string_view key, std::int64_t fallback, std::int64_t min,
                       std::int64_t max);
  // A nested value, for plugins that take a structure (decision-tree-filter); null when absent.
  const config::PluginParameter* raw(std::string_view key);
  void error(const config::PluginParameter& at, const std::string& message);
  void error(const std::string& message);  // about the plugin as a whole

  const config::PluginSpec& spec() const { return spec_; }
  bool ok() const { return !failed_; }

 private:
  const config::PluginParameter* take(std::string_view key);
  const config::PluginSpec& spec_;
  config::Diagnostics& diag_;
  std::set<std::string, std::less<>> read_;
  bool failed_ = false;
};

// Plugins already built in this configuration, by name (decision trees refer to them).
using PluginLookup = std::function<std::shared_ptr<Plugin>(std::string_view name)>;

using PluginFactory =
    std::function<std::shared_ptr<Plugin>(Parameters& params, const PluginLookup& lookup)>;

class PluginRegistry {
 public:
  void add(std::string type, PluginFactory factory);
  void alias(std::string type, std::string of);
  // Null (with an error in `diag`) for an unknown type or bad parameters.
  std::shared_ptr<Plugin> create(const config::PluginSpec& spec, config::Diagnostics& diag,
                                 const PluginLookup& lookup) const;
  bool knows(const std::string& type) const { return factories_.contains(type); }

 private:
  std::map<std::string, PluginFactory> factories_;
  std::map<std::string, std::string> aliases_;
};

// Every built-in plugin (plugins/*).
const PluginRegistry& builtin_plugins();

}  // namespace infergate::gateway::scheduling

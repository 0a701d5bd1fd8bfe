#include "gateway/scheduling/framework/build.hpp"

#include <set>
#include <stdexcept>

#include "gateway/scheduling/framework/named_profiles.hpp"
#include "gateway/scheduling/framework/registry.hpp"

namespace infergate::gateway::scheduling {
namespace {

std::shared_ptr<const SchedulingProfile> build_profile(const config::EndpointPickerConfig& epc,
                                                       const config::SchedulingProfileSpec& spec,
                                                       config::Diagnostics& diag) {
  std::map<std::string, std::shared_ptr<Plugin>, std::less<>> built;
  const PluginLookup lookup = [&](std::string_view name) -> std::shared_ptr<Plugin> {
    auto it = built.find(name);
    return it == built.end() ? nullptr : it->second;
  };
  const std::size_t errors_before = diag.errors.size();
  for (const auto& p : epc.plugins)
    if (auto plugin = builtin_plugins().create(p, diag, lookup)) built[p.name] = std::move(plugin);
  if (diag.errors.size() != errors_before) return nullptr;

  auto profile = std::make_shared<SchedulingProfile>(spec.name);
  for (const auto& ref : spec.plugins) {
    auto it = built.find(ref.plugin_ref);
    if (it == built.end()) continue;  // reported by the config loader
    std::shared_ptr<Plugin> plugin = it->second;
    if (ref.weight && plugin->point() != ExtensionPoint::kScorer)
      diag.warn(ref.where, ref.path + ".weight", "ignored: " + plugin->name + " is not a scorer");
    if (auto f = std::dynamic_pointer_cast<Filter>(plugin)) {
      profile->add_filter(std::move(f));
    } else if (auto s = std::dynamic_pointer_cast<Scorer>(plugin)) {
      profile->add_scorer(std::move(s), ref.weight.value_or(1.0));
    } else if (auto pk = std::dynamic_pointer_cast<Picker>(plugin)) {
      if (profile->has_picker())
        diag.error(ref.where, ref.path + ".pluginRef",
                   "a profile has one picker; " + ref.plugin_ref + " is a second");
      profile->set_picker(std::move(pk));
    }
  }
  if (!profile->has_picker()) {
    config::PluginSpec max_score{
        "max-score-picker", "max-score-picker", {}, spec.where, "(default picker)"};
    max_score.parameters.is_map = true;
    auto picker =
        std::dynamic_pointer_cast<Picker>(builtin_plugins().create(max_score, diag, lookup));
    profile->set_picker(std::move(picker));
  }
  return diag.errors.size() == errors_before ? profile : nullptr;
}

const config::SchedulingProfileSpec* find_profile(const config::EndpointPickerConfig& epc,
                                                  const std::string& name) {
  for (const auto& p : epc.profiles)
    if (p.name == name) return &p;
  return nullptr;
}

}  // namespace

std::shared_ptr<const SchedulingProfile> build_pool_profile(const config::Config& config,
                                                            std::size_t pool_index,
                                                            const SchedulerOptions& options,
                                                            config::Diagnostics& diag) {
  const config::PoolConfig& pool = config.pools[pool_index];
  const std::string& wanted = pool.scheduling_profile;
  if (config.picker && !config.picker->profiles.empty()) {
    const config::EndpointPickerConfig& epc = *config.picker;
    const config::SchedulingProfileSpec* spec = nullptr;
    if (!wanted.empty())
      spec = find_profile(epc, wanted);
    else if (!(spec = find_profile(epc, "default")))
      spec = &epc.profiles.front();
    if (spec) return build_profile(epc, *spec, diag);
  }
  const std::string name = wanted.empty() ? options.default_profile : wanted;
  if (auto epc = named_profile(name)) return build_profile(*epc, epc->profiles.front(), diag);
  std::string known;
  if (config.picker)
    for (const auto& p : config.picker->profiles) known += p.name + ", ";
  for (const auto& n : named_profile_names()) known += n + ", ";
  known.resize(known.size() - 2);
  diag.error(pool.resource.meta.where,
             wanted.empty() ? "--scheduling-profile"
                            : "metadata.annotations.infergate.dev/scheduling-profile",
             "no scheduling profile named '" + name + "' (known: " + known + ")");
  return nullptr;
}

config::ConfigValidator scheduling_validator(SchedulerOptions options) {
  return [options = std::move(options)](const config::Config& config, config::Diagnostics& diag) {
    // Pools sharing a profile would report its mistakes once each: keep one of each.
    config::Diagnostics found;
    for (std::size_t i = 0; i < config.pools.size(); ++i)
      build_pool_profile(config, i, options, found);
    std::set<std::string> seen;
    for (auto& e : found.errors)
      if (seen.insert(e.to_string()).second) diag.errors.push_back(std::move(e));
    for (auto& w : found.warnings)
      if (seen.insert(w.to_string()).second) diag.warnings.push_back(std::move(w));
  };
}

SchedulerFactory scheduler_factory(SchedulerOptions options,
                                   std::shared_ptr<PrefixIndexes> prefix_indexes) {
  return [options = std::move(options), prefix_indexes = std::move(prefix_indexes)](
             const config::Config& config, std::size_t pool_index,
             PoolState& pool) -> std::shared_ptr<Scheduler> {
    config::Diagnostics diag;
    SchedulerOptions o = options;
    if (config.picker && config.picker->metrics_staleness)
      o.metrics_staleness = *config.picker->metrics_staleness;
    auto profile = build_pool_profile(config, pool_index, o, diag);
    if (!profile)
      throw std::invalid_argument("scheduling profile does not build:\n" + diag.error_text());
    return std::make_shared<ProfileScheduler>(
        std::move(profile), o, prefix_indexes ? prefix_indexes->for_pool(pool.key) : nullptr);
  };
}

}  // namespace infergate::gateway::scheduling

// For the plugin tests under plugins/<kind>/: one built-in plugin built through the registry
// from a type name and parameters (as configuration builds it), and a Decision that calls it
// directly on a TestPool's endpoints, with candidates made the way the scheduler makes them.
#pragma once

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "gateway/scheduling/framework/registry.hpp"
#include "pool_fixture.hpp"

namespace infergate::gateway::testing {

// The plugin of type `type` as a P (Filter, Scorer or Picker); null, with a test failure, when
// it does not build or is not a P.
template <typename P>
std::shared_ptr<P> make_plugin(const std::string& type,
                               const std::map<std::string, std::string>& params = {}) {
  config::PluginSpec spec;
  spec.type = spec.name = type;
  spec.path = "plugins[0]";
  spec.parameters.is_map = true;
  for (const auto& [k, v] : params) {
    config::PluginParameter p;
    p.key = k;
    p.value = v;
    p.path = "plugins[0].parameters." + k;
    spec.parameters.fields.push_back(p);
  }
  config::Diagnostics diag;
  auto plugin =
      scheduling::builtin_plugins().create(spec, diag, [](std::string_view) { return nullptr; });
  EXPECT_TRUE(diag.ok()) << diag.error_text();
  auto typed = std::dynamic_pointer_cast<P>(plugin);
  EXPECT_TRUE(typed) << type;
  return typed;
}

// One decision's state and candidates (every endpoint of the pool, with its latest metrics).
struct Decision {
  explicit Decision(TestPool& p, std::string model = "base", std::string prompt = "") : tp(p) {
    request.target_model = std::move(model);
    prompt_text = std::move(prompt);
    request.prompt = prompt_text;
    state.emplace(request, tp.pool, tp.prefix_index.get(), tp.random, tp.clock.now());
    view = tp.pool.view.load();
    state->begin_decision(tp.clock.now(), view.get());
    const std::size_t n = tp.pool.endpoints.size();
    candidates.reset(n);
    for (std::size_t i = 0; i < n; ++i) {
      Endpoint* ep = tp.pool.endpoints[i].get();
      candidates.slot[i] = static_cast<std::uint32_t>(i);
      candidates.endpoint[i] = ep;
      candidates.id[i] = ep->id;
      candidates.in_flight[i] = ep->in_flight.load();
      candidates.in_flight_tokens[i] = static_cast<double>(ep->in_flight_tokens.load());
      const auto& load = view->loads[i];
      candidates.waiting[i] = load.waiting;
      candidates.running[i] = load.running;
      candidates.kv_usage[i] = load.kv_usage;
      candidates.lora[i] = load.lora;
      candidates.lora_room[i] = load.lora_room;
    }
  }
  // The scorer's score of each candidate, in slot order.
  std::vector<double> score(scheduling::Scorer& s) {
    std::vector<double> out(candidates.size());
    s.score(*state, candidates, out);
    return out;
  }
  // The slots the filter keeps.
  std::vector<std::size_t> filter(scheduling::Filter& f) {
    scheduling::Candidates kept = candidates;
    f.filter(*state, kept);
    return {kept.slot.begin(), kept.slot.end()};
  }
  // The slot of the candidate the picker chooses.
  std::size_t pick(scheduling::Picker& p, const std::vector<double>& totals) {
    return candidates.slot[p.pick(*state, candidates, totals)];
  }

  TestPool& tp;
  SchedulingRequest request;
  std::string prompt_text;
  std::optional<scheduling::CycleState> state;
  std::shared_ptr<const PoolMetricsView> view;
  scheduling::Candidates candidates;
};

// How often the picker chose each endpoint in `n` picks over one decision with `totals`.
inline std::vector<int> pick_counts(scheduling::Picker& picker, TestPool& tp,
                                    const std::vector<double>& totals, int n) {
  Decision d(tp);
  std::vector<int> counts(tp.pool.endpoints.size());
  for (int i = 0; i < n; ++i) ++counts[d.pick(picker, totals)];
  return counts;
}

}  // namespace infergate::gateway::testing

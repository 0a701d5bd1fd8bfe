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
    const auto view = tp.pool.view.load();
    for (std::size_t i = 0; i < tp.pool.endpoints.size(); ++i) {
      scheduling::Candidate c;
      c.endpoint = tp.pool.endpoints[i].get();
      c.slot = i;
      c.in_flight = c.endpoint->in_flight.load();
      c.in_flight_tokens = c.endpoint->in_flight_tokens.load();
      if (const auto* s = view->samples[i].get()) {
        c.sample = s;
        c.waiting = s->metrics.waiting;
        c.running = s->metrics.running;
        c.kv_usage = s->metrics.kv_usage.value_or(0);
        if (s->metrics.lora) c.lora = &*s->metrics.lora;
      }
      candidates.push_back(c);
    }
    for (auto& c : candidates) pointers.push_back(&c);
  }
  // The scorer's score of each candidate, in slot order.
  std::vector<double> score(scheduling::Scorer& s) {
    std::vector<double> out(pointers.size());
    s.score(*state, pointers, out);
    return out;
  }
  // The slots the filter keeps.
  std::vector<std::size_t> filter(scheduling::Filter& f) {
    std::vector<scheduling::Candidate*> kept = pointers;
    f.filter(*state, kept);
    std::vector<std::size_t> slots;
    for (auto* c : kept) slots.push_back(c->slot);
    return slots;
  }

  TestPool& tp;
  SchedulingRequest request;
  std::string prompt_text;
  std::optional<scheduling::CycleState> state;
  std::vector<scheduling::Candidate> candidates;
  std::vector<scheduling::Candidate*> pointers;
};

// How often the picker chose each endpoint in `n` picks over one decision with `totals`.
inline std::vector<int> pick_counts(scheduling::Picker& picker, TestPool& tp,
                                    const std::vector<double>& totals, int n) {
  Decision d(tp);
  std::vector<int> counts(tp.pool.endpoints.size());
  for (int i = 0; i < n; ++i) ++counts[picker.pick(*d.state, d.pointers, totals)->slot];
  return counts;
}

}  // namespace infergate::gateway::testing

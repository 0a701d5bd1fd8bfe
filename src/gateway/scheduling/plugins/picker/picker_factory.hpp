// The factory of a picker with no parameters of its own. Upstream's `maxNumOfEndpoints` (for
// fallbacks) is accepted and must be 1: a decision here picks one endpoint. Shared by
// max-score-picker, random-picker, weighted-random-picker and round-robin-picker.
#pragma once

#include <memory>

#include "gateway/scheduling/framework/registry.hpp"

namespace infergate::gateway::scheduling {

template <typename P>
PluginFactory picker_factory() {
  return [](Parameters& p, const PluginLookup&) -> std::shared_ptr<Plugin> {
    p.integer("maxNumOfEndpoints", 1, 1, 1);
    return std::make_shared<P>();
  };
}

}  // namespace infergate::gateway::scheduling

#include "gateway/lifecycle/phases.hpp"

namespace infergate::gateway {

RequestPhases::RequestPhases(const SnapshotSource& snapshots, UpstreamClient& upstream,
                             Random& random, const Clock& clock, HandlerOptions options,
                             const RequestControl& control)
    : snapshots_(snapshots),
      upstream_(upstream),
      random_(random),
      clock_(clock),
      options_(options),
      control_(control) {}

}  // namespace infergate::gateway

#include "gateway/lifecycle/phases.hpp"

#include <random>

namespace infergate::gateway {
namespace {

std::uint64_t system_seed() {
  std::random_device device;
  return (std::uint64_t{device()} << 32) ^ device();
}

}  // namespace

RequestPhases::RequestPhases(const SnapshotSource& snapshots, UpstreamClient& upstream,
                             Random& random, const Clock& clock, HandlerOptions options,
                             const RequestControl& control)
    : snapshots_(snapshots),
      upstream_(upstream),
      random_(random),
      own_id_random_(system_seed()),
      clock_(clock),
      options_(options),
      control_(control) {}

}  // namespace infergate::gateway

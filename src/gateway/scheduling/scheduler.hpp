// Endpoint picking. The scheduler sees the pool's endpoints (with the gateway's live
// counters) and the request, and returns one endpoint, never one in `exclude` (endpoints that
// already failed this request). The endpoint-picker issue replaces round-robin with filters,
// scorers and pickers behind this same interface.
//
// Thread-safety: pick() may be called from every worker thread at once.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "gateway/datastore/datastore.hpp"

namespace infergate::gateway {

struct SchedulingRequest {
  std::string target_model;
  std::string_view prompt;
  long expected_tokens = 0;
};

class Scheduler {
 public:
  virtual ~Scheduler() = default;
  virtual std::shared_ptr<Endpoint> pick(PoolState& pool, const SchedulingRequest& request,
                                         const std::vector<const Endpoint*>& exclude) = 0;
};

// Each pool's endpoints in turn, skipping excluded ones.
class RoundRobinScheduler final : public Scheduler {
 public:
  std::shared_ptr<Endpoint> pick(PoolState& pool, const SchedulingRequest& request,
                                 const std::vector<const Endpoint*>& exclude) override;
};

}  // namespace infergate::gateway

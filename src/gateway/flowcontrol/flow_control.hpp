// Flow control's state per pool: one FlowController per pool, kept under the pool's
// namespace/name across reloads. As a PoolListener it binds each new snapshot's pools to their
// controllers (made the first time a pool is seen, attached to the pool's newest state),
// forgets the pools that left (their queued requests run out their TTL), and lets queued
// requests go when a pool's new metrics view may show room. The controllers share one
// FlowTimings (upstream reports those timings without a pool).
//
// Thread-safety: every method from any thread (one mutex over the map; controllers lock
// themselves).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "gateway/datastore/datastore.hpp"
#include "gateway/flowcontrol/flow_controller.hpp"

namespace infergate::gateway::flowcontrol {

class FlowControl final : public PoolListener {
 public:
  FlowControl(const Clock& clock, FlowControlOptions options);

  // Every pool's controller takes `options` (a reload may change them).
  void set_options(FlowControlOptions options);

  void pools_reconciled(Snapshot& snapshot, std::span<const std::uint32_t> removed) override;
  void view_published(const PoolState& pool) override;

  // The controllers, in pool-name order.
  void for_each(const std::function<void(const FlowController&)>& visit) const;
  // Every controller's enqueue and dispatch-cycle timings.
  const FlowTimings& timings() const { return *timings_; }

 private:
  const Clock& clock_;
  const std::shared_ptr<FlowTimings> timings_ = std::make_shared<FlowTimings>();
  mutable std::mutex mu_;
  FlowControlOptions options_;
  std::map<std::string, std::shared_ptr<FlowController>> by_pool_;
};

}  // namespace infergate::gateway::flowcontrol

// The waiting room of one pool: priority bands served strictly highest first; inside a band,
// round-robin between flows (fairness ids), one request per turn; FCFS inside a flow. Limits
// per band and over all bands, in requests and in bytes. Plain data structure: not
// thread-safe (the FlowController locks around it), no clock, no I/O.
#pragma once

#include <cstdint>
#include <deque>
#include <list>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>

namespace infergate::gateway::flowcontrol {

struct QueueLimits {
  std::size_t max_requests = 10000;
  std::size_t max_bytes = std::size_t{1} << 30;
};

struct QueuedRequest {
  std::uint64_t id = 0;
  std::int64_t priority = 0;
  std::string flow;
  std::size_t bytes = 0;
  std::string model{};         // as the client named it (metrics labels only)
  std::string target_model{};  // as sent upstream (metrics labels only)
  std::string fairness_id{};   // the fairness_id label (metrics only)
};

class FlowQueue {
 public:
  FlowQueue(QueueLimits per_band, QueueLimits global) : per_band_(per_band), global_(global) {}

  enum class Push { kQueued, kBandFull, kQueueFull };
  Push push(QueuedRequest request);
  // The next request to dispatch: highest band, next flow in turn, oldest of that flow.
  std::optional<QueuedRequest> pop();
  // Takes a request out wherever it is (expiry, cancellation); false if it is not queued.
  bool remove(std::uint64_t id);

  std::optional<std::int64_t> highest_priority() const;
  bool empty() const { return index_.empty(); }
  std::size_t size() const { return index_.size(); }
  std::size_t bytes() const { return bytes_; }
  struct BandStats {
    std::size_t requests = 0, bytes = 0, flows = 0;
  };
  std::map<std::int64_t, BandStats> bands() const;
  // Every queued request, in no particular order.
  template <typename Visit>
  void for_each(Visit&& visit) const {
    for (const auto& [priority, band] : bands_)
      for (const auto& [flow, requests] : band.flows)
        for (const QueuedRequest& r : requests) visit(r);
  }
  void set_limits(QueueLimits per_band, QueueLimits global) {
    per_band_ = per_band;
    global_ = global;
  }

 private:
  struct Band {
    std::map<std::string, std::list<QueuedRequest>> flows;
    std::deque<std::string> turn;  // flows with requests, in round-robin order
    std::size_t requests = 0, bytes = 0;
  };
  struct Where {
    std::int64_t priority = 0;
    std::string flow;
    std::list<QueuedRequest>::iterator it;
  };
  void erase(const Where& where);

  QueueLimits per_band_, global_;
  std::map<std::int64_t, Band, std::greater<>> bands_;
  std::unordered_map<std::uint64_t, Where> index_;
  std::size_t bytes_ = 0;
};

}  // namespace infergate::gateway::flowcontrol

#include "gateway/flowcontrol/flow_queue.hpp"

#include <algorithm>

namespace infergate::gateway::flowcontrol {

FlowQueue::Push FlowQueue::push(QueuedRequest r) {
  if (index_.size() + 1 > global_.max_requests || bytes_ + r.bytes > global_.max_bytes)
    return Push::kQueueFull;
  Band& band = bands_[r.priority];
  if (band.requests + 1 > per_band_.max_requests || band.bytes + r.bytes > per_band_.max_bytes) {
    if (band.requests == 0) bands_.erase(r.priority);
    return Push::kBandFull;
  }
  auto& flow = band.flows[r.flow];
  if (flow.empty()) band.turn.push_back(r.flow);
  ++band.requests;
  band.bytes += r.bytes;
  bytes_ += r.bytes;
  const std::uint64_t id = r.id;
  const std::int64_t priority = r.priority;
  std::string flow_name = r.flow;
  flow.push_back(std::move(r));
  index_[id] = Where{priority, std::move(flow_name), std::prev(flow.end())};
  return Push::kQueued;
}

void FlowQueue::erase(const Where& where) {
  auto band_it = bands_.find(where.priority);
  Band& band = band_it->second;
  auto flow_it = band.flows.find(where.flow);
  --band.requests;
  band.bytes -= where.it->bytes;
  bytes_ -= where.it->bytes;
  flow_it->second.erase(where.it);
  if (flow_it->second.empty()) {
    band.flows.erase(flow_it);
    band.turn.erase(std::find(band.turn.begin(), band.turn.end(), where.flow));
  }
  if (band.requests == 0) bands_.erase(band_it);
}

std::optional<QueuedRequest> FlowQueue::pop() {
  if (bands_.empty()) return std::nullopt;
  Band& band = bands_.begin()->second;
  const std::string flow = band.turn.front();
  QueuedRequest r = band.flows.at(flow).front();
  auto where = index_.find(r.id);
  erase(where->second);
  index_.erase(where);
  // The flow goes to the back of the turn if it still has requests.
  if (auto b = bands_.find(r.priority); b != bands_.end()) {
    auto& turn = b->second.turn;
    if (auto it = std::find(turn.begin(), turn.end(), flow); it != turn.end()) {
      turn.erase(it);
      turn.push_back(flow);
    }
  }
  return r;
}

bool FlowQueue::remove(std::uint64_t id) {
  auto where = index_.find(id);
  if (where == index_.end()) return false;
  erase(where->second);
  index_.erase(where);
  return true;
}

std::optional<std::int64_t> FlowQueue::highest_priority() const {
  if (bands_.empty()) return std::nullopt;
  return bands_.begin()->first;
}

std::map<std::int64_t, FlowQueue::BandStats> FlowQueue::bands() const {
  std::map<std::int64_t, BandStats> out;
  for (const auto& [p, b] : bands_) out[p] = BandStats{b.requests, b.bytes, b.flows.size()};
  return out;
}

}  // namespace infergate::gateway::flowcontrol

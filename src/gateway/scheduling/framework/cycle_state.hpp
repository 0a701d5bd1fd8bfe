// What the plugins of one scheduling decision see: the candidates (endpoints with their
// latest metrics and the gateway's live counters) and the request, plus the prefix match,
// computed once per decision by the first plugin that asks for it.
//
// Thread-safety: a CycleState belongs to one decision on one thread.
#pragma once

#include <cstdint>
#include <limits>
#include <span>
#include <vector>

#include "common/clock.hpp"
#include "common/random.hpp"
#include "gateway/datastore/datastore.hpp"
#include "gateway/scheduling/prefix/prompt_blocks.hpp"
#include "gateway/scheduling/scheduler.hpp"

namespace infergate::gateway::scheduling {

namespace prefix {
class PrefixIndex;
}

using prefix::PromptBlockOptions;

// A stale or missing sample while scraping is on counts as saturated, as upstream's picker
// treats an endpoint whose metrics are older than metricsStalenessThreshold.
inline constexpr double kSaturatedQueue = 1e9;

struct Candidate {
  Endpoint* endpoint = nullptr;
  std::size_t slot = 0;                    // index in PoolState::endpoints
  const EndpointSample* sample = nullptr;  // null: no usable sample
  bool saturated = false;                  // stale or never scraped while scraping is on
  double waiting = 0;                      // engine queue (kSaturatedQueue when saturated)
  double running = 0;
  double kv_usage = 0;  // 0..1 (1 when saturated; 0 when not reported)
  int in_flight = 0;    // the gateway's own counters, read at decision time
  long in_flight_tokens = 0;
  const metrics::LoraInfo* lora = nullptr;  // null: the engine reports no adapters
  std::uint32_t prefix_matched = 0;         // leading prompt blocks cached here (after match)
};

class CycleState {
 public:
  CycleState(const SchedulingRequest& r, PoolState& p, prefix::PrefixIndex* index, Random& rnd,
             TimePoint at)
      : request(r), pool(p), prefix_index(index), random(rnd), now(at) {}
  // The block hashes' buffer goes back to the thread for the next request.
  ~CycleState();
  CycleState(const CycleState&) = delete;
  CycleState& operator=(const CycleState&) = delete;

  const SchedulingRequest& request;
  PoolState& pool;
  prefix::PrefixIndex* prefix_index;  // the pool's; null: none
  Random& random;
  TimePoint now;

  // A new decision for the same request (a retry): the prompt's hashes are kept, the match is
  // computed again.
  void begin_decision(TimePoint at) {
    now = at;
    matched_ = false;
  }

  // The prompt's block hashes under `options` (computed once per decision).
  std::span<const std::uint64_t> prefix_blocks(const PromptBlockOptions& options);
  // Fills each candidate's prefix_matched from the pool's prefix index (once per decision);
  // returns the number of blocks of the prompt.
  std::size_t match_prefix(std::span<Candidate* const> candidates,
                           const PromptBlockOptions& options);
  // Whether this decision looked the prompt up in the prefix index.
  bool prefix_looked_up() const { return matched_; }

 private:
  std::vector<std::uint64_t> blocks_;
  bool hashed_ = false;
  bool matched_ = false;
};

}  // namespace infergate::gateway::scheduling

// What the plugins of one scheduling decision see: the candidates (endpoints with their
// latest metrics and the gateway's live counters, as columns) and the request, plus the prefix
// match, computed once per decision by the first plugin that asks for it.
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

// The candidates of one decision as columns: entry i of every column is candidate i. Built
// from the pool's metrics view (its flat loads) and the endpoints' live counters; filters remove
// candidates from every column at once (retain). Columns rather than one struct per candidate:
// a scorer reads one signal of hundreds of endpoints as one contiguous array.
struct Candidates {
  std::vector<std::uint32_t> slot;  // index in PoolState::endpoints
  std::vector<Endpoint*> endpoint;
  std::vector<std::uint32_t> id;  // Endpoint::id: the prefix index's key
  std::vector<double> waiting;    // engine queue (kSaturatedQueue when saturated)
  std::vector<double> running;    // engine batch
  std::vector<double> kv_usage;   // 0..1 (1 when saturated; 0 when not reported)
  // The gateway's own counters, read at decision time.
  std::vector<double> in_flight;
  std::vector<double> in_flight_tokens;
  std::vector<const metrics::LoraInfo*> lora;  // null: the engine reports no adapters
  std::vector<std::uint8_t> lora_room;         // adapters running and waiting < its max
  std::vector<std::uint8_t> saturated;         // stale or never scraped while scraping is on
  // Leading prompt blocks cached here: written by CycleState::match_prefix, unset before.
  std::vector<std::uint32_t> prefix_matched;
  // Set when the candidates are every endpoint of this view, in order, with its columns as they
  // are (none stale or ejected, none filtered out); null otherwise. Any change of the set
  // (retain, truncate, reset, resize) clears it. Read only during the decision that set it (the
  // view may be gone after it).
  const PoolMetricsView* whole_view = nullptr;
  // Set when the candidates are that whole view, which lists its endpoints, and its columns are
  // not copied yet: the metrics (waiting, running, kv_usage, lora, lora_room, saturated) and
  // slot, endpoint and id (slot i is i), nor the endpoints' in_flight_tokens read. A decision
  // whose plugins read none of them (Plugin::reads_metrics) does not fill them; slot_of() and
  // ids() answer meanwhile. fill_metrics() fills them; SchedulingProfile::run does before
  // calling a plugin that reads them or explaining a decision, and retain and truncate do
  // before they move candidates.
  const PoolMetricsView* metrics_pending = nullptr;

  std::size_t size() const { return slot.size(); }
  // Candidate i's index in PoolState::endpoints, and the candidates' ids, also while pending.
  std::size_t slot_of(std::size_t i) const { return metrics_pending ? i : slot[i]; }
  std::span<const std::uint32_t> ids() const {
    return metrics_pending ? std::span<const std::uint32_t>(metrics_pending->columns.id)
                           : std::span<const std::uint32_t>(id);
  }
  // Fills the pending columns (see metrics_pending); nothing when none are.
  void fill_metrics() {
    if (metrics_pending) copy_metrics();
  }
  bool empty() const { return slot.empty(); }
  // n candidates, every column zeroed (to be filled in place).
  void reset(std::size_t n);
  // n candidates, the columns left as they were (each entry to be written).
  void resize(std::size_t n);
  // Keeps the first n candidates.
  void truncate(std::size_t n);
  // Keeps, in order, the candidates i with keep[i] != 0 (keep.size() == size()).
  void retain(std::span<const std::uint8_t> keep);
  // Keeps the candidates i for which keep(i) holds.
  template <typename Keep>
  void retain_if(Keep keep) {
    thread_local std::vector<std::uint8_t> mask;
    mask.resize(size());
    for (std::size_t i = 0; i < size(); ++i) mask[i] = keep(i) ? 1 : 0;
    retain(mask);
  }

 private:
  void copy_metrics();
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
  const PoolMetricsView* view = nullptr;  // the pool's view the decision reads; null: none

  // A new decision for the same request (a retry): the prompt's hashes are kept, the match is
  // computed again.
  void begin_decision(TimePoint at, const PoolMetricsView* decision_view = nullptr) {
    now = at;
    view = decision_view;
    matched_ = false;
  }

  // The prompt's block hashes under `options` (computed once per decision).
  std::span<const std::uint64_t> prefix_blocks(const PromptBlockOptions& options);
  // Fills the candidates' prefix_matched from the pool's prefix index (once per decision);
  // returns the number of blocks of the prompt.
  std::size_t match_prefix(Candidates& candidates, const PromptBlockOptions& options);
  // Whether this decision looked the prompt up in the prefix index.
  bool prefix_looked_up() const { return matched_ && prefix_index != nullptr; }

 private:
  std::vector<std::uint64_t> blocks_;
  bool hashed_ = false;
  bool matched_ = false;
};

}  // namespace infergate::gateway::scheduling

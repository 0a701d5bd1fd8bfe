// A scheduling profile: filters in order, then weighted scorers (each score clamped to [0, 1]
// unless the scorer's are bounded; total = sum of weight x score), then one picker. Built from an
// EndpointPickerConfig profile (or a ready-made one, see named_profiles.hpp); every plugin call is
// timed.
//
// Scores kept per view. When the candidates are a whole metrics view (Candidates::whole_view),
// the scorers whose scores follow from the metrics (ScoreDepends) are asked once per view (and
// target model, when one of them reads it) on each thread, and their weighted scores are kept for
// the next decisions over that view: between two scrapes the queue and KV-cache scores do not
// change. Every decision sums the kept kinds' scores first (in the profile's order), then the
// others, whether or not it reuses kept scores, so the totals are the same to the last bit (the
// library is built without fused multiply-adds). Upstream sums in the profile's order; the
// totals can differ from that in the last bit, which matters only to an exact tie.
// A kept scorer is not called, and its latency not observed, on the decisions that reuse its
// scores.
//
// Thread-safety: immutable after construction; run() from any thread (the kept scores are the
// thread's).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/cycle_clock.hpp"
#include "gateway/scheduling/framework/decision_log.hpp"
#include "gateway/scheduling/framework/plugin.hpp"
#include "gateway/scheduling/framework/plugin_latency.hpp"
#include "gateway/scheduling/framework/prefix_match_metrics.hpp"

namespace infergate::gateway::scheduling {

class SchedulingProfile {
 public:
  explicit SchedulingProfile(std::string name);
  // Not copied: a copy would share the serial that keys the kept scores.
  SchedulingProfile(const SchedulingProfile&) = delete;
  SchedulingProfile& operator=(const SchedulingProfile&) = delete;

  void add_filter(std::shared_ptr<Filter> filter);
  void add_scorer(std::shared_ptr<Scorer> scorer, double weight);
  void set_picker(std::shared_ptr<Picker> picker);
  bool has_picker() const { return picker_.plugin != nullptr; }

  // The chosen candidate's index, or none with `failure` set (a filter left none). With
  // `explain` (null on the hot path), also says why there: the candidates left, the picker,
  // and the chosen endpoint and the runners-up with each scorer's share of their totals. With
  // `picked_at`, says when the picker's call ended (the CycleClock read that timed it), so that
  // the caller's own latency ends there without a read of its own.
  std::optional<std::size_t> run(CycleState& state, Candidates& candidates, RequestError& failure,
                                 Decision* explain = nullptr,
                                 CycleClock::Ticks* picked_at = nullptr) const;

  const std::string& name() const { return name_; }
  // Prompt blocks the profile's plugins read from the prefix index; null when none does.
  const PromptBlockOptions* prefix_options() const { return prefix_ ? &*prefix_ : nullptr; }
  // Where the decisions' prefix matches are counted (the plugin the options come from).
  const PrefixMatchMetrics::Recorder* prefix_hits() const {
    return prefix_hits_ ? &*prefix_hits_ : nullptr;
  }
  std::string describe()
      const;  // "queue-scorer*2 kv-cache-utilization-scorer*2 ... max-score-picker"

 private:
  template <typename P>
  struct Timed {
    std::shared_ptr<P> plugin;
    LatencyHistogram* latency;
  };
  struct ViewScores;
  void note_prefix(const Plugin& plugin);
  // The kept scores of the candidates' view (computed now when this thread has none), the
  // scorers' calls timed by `timer`; `scratch` holds candidates.size() scores.
  template <typename Timer>
  const ViewScores& view_scores(CycleState& state, Candidates& candidates,
                                std::span<double> scratch, Timer& timer) const;
  // Fills `out` from the weighted shares (scorer-major: shares[s * n + i]) and totals.
  void explain(const Candidates& candidates, std::span<const double> shares,
               std::span<const double> totals, std::size_t chosen, Decision& out) const;

  std::string name_;
  const std::uint64_t serial_;  // unique to this profile in the process: keys its kept scores
  std::vector<Timed<Filter>> filters_;
  std::vector<std::pair<Timed<Scorer>, double>> scorers_;
  Timed<Picker> picker_{};
  std::optional<PromptBlockOptions> prefix_;
  std::optional<PrefixMatchMetrics::Recorder> prefix_hits_;
  bool keeps_view_scores_ = false;  // some scorer's scores follow from the metrics
  bool keyed_by_model_ = false;     // and some of those from the target model too
  // Some plugin asked on every decision (a filter, a scorer whose scores are not kept, the
  // picker) reads the candidates' metrics columns (Plugin::reads_metrics).
  bool reads_metrics_each_decision_ = false;
  // Indices into scorers_ in the order their scores are summed: those whose scores can be kept
  // (kept_count_ of them), then the others, each part in the profile's order.
  std::vector<std::size_t> sum_order_;
  std::size_t kept_count_ = 0;
};

}  // namespace infergate::gateway::scheduling

// A scheduling profile: filters in order, then weighted scorers (each score clamped to [0, 1];
// total = sum of weight x score), then one picker. Built from an EndpointPickerConfig profile
// (or a ready-made one, see named_profiles.hpp); every plugin call is timed.
//
// Thread-safety: immutable after construction; run() from any thread.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "gateway/scheduling/framework/decision_log.hpp"
#include "gateway/scheduling/framework/plugin.hpp"
#include "gateway/scheduling/framework/plugin_latency.hpp"
#include "gateway/scheduling/framework/prefix_match_metrics.hpp"

namespace infergate::gateway::scheduling {

class SchedulingProfile {
 public:
  explicit SchedulingProfile(std::string name) : name_(std::move(name)) {}

  void add_filter(std::shared_ptr<Filter> filter);
  void add_scorer(std::shared_ptr<Scorer> scorer, double weight);
  void set_picker(std::shared_ptr<Picker> picker);
  bool has_picker() const { return picker_.plugin != nullptr; }

  // The chosen candidate's index, or none with `failure` set (a filter left none). With
  // `explain` (null on the hot path), also says why there: the candidates left, the picker,
  // and the chosen endpoint and the runners-up with each scorer's share of their totals. With
  // `picked_at`, says when the picker's call ended (the clock read that timed it), so that the
  // caller's own latency ends there without a read of its own.
  std::optional<std::size_t> run(CycleState& state, Candidates& candidates, RequestError& failure,
                                 Decision* explain = nullptr,
                                 std::chrono::steady_clock::time_point* picked_at = nullptr) const;

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
  void note_prefix(const Plugin& plugin);
  // Fills `out` from the weighted shares (scorer-major: shares[s * n + i]) and totals.
  void explain(const Candidates& candidates, std::span<const double> shares,
               std::span<const double> totals, std::size_t chosen, Decision& out) const;

  std::string name_;
  std::vector<Timed<Filter>> filters_;
  std::vector<std::pair<Timed<Scorer>, double>> scorers_;
  Timed<Picker> picker_{};
  std::optional<PromptBlockOptions> prefix_;
  std::optional<PrefixMatchMetrics::Recorder> prefix_hits_;
};

}  // namespace infergate::gateway::scheduling

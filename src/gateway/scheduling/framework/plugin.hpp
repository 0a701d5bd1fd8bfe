// The scheduling framework's plugin interfaces (as upstream's endpoint picker has them): a
// Filter narrows the candidates, a Scorer gives each a score in [0, 1] (the profile clamps and
// weighs it), a Picker chooses one from the weighted totals. Plugins are created by type name
// from an EndpointPickerConfig through the PluginRegistry.
//
// Thread-safety: one plugin instance serves every worker thread at once; plugins keep
// per-decision state in the CycleState and shared state in atomics or behind locks.
#pragma once

#include <span>
#include <string>
#include <vector>

#include "gateway/scheduling/framework/cycle_state.hpp"

namespace infergate::gateway::scheduling {

enum class ExtensionPoint { kFilter, kScorer, kPicker, kOther };
std::string_view extension_point_name(ExtensionPoint point);

class Plugin {
 public:
  virtual ~Plugin() = default;
  virtual ExtensionPoint point() const = 0;
  // Prompt blocks this plugin reads from the prefix index (the profile then records each
  // decision in the index); null when it does not use the index.
  virtual const PromptBlockOptions* prefix_options() const { return nullptr; }
  // Whether it reads the candidates' metrics columns (waiting, running, kv_usage, lora,
  // lora_room, saturated), their in_flight_tokens, or their slot, endpoint or id columns. A
  // decision over a whole view fills them only for a plugin that does
  // (Candidates::metrics_pending); one that does not must say so here.
  virtual bool reads_metrics() const { return true; }

  std::string type;  // as registered
  std::string name;  // as configured (defaults to the type)
};

class Filter : public Plugin {
 public:
  ExtensionPoint point() const final { return ExtensionPoint::kFilter; }
  // Removes candidates (Candidates::retain); leaving none makes the decision fail.
  virtual void filter(CycleState& state, Candidates& candidates) = 0;
};

// What a scorer's scores depend on. Scores that follow from the candidates' metrics alone
// (their view columns: waiting, running, kv_usage, lora, lora_room, saturated), and maybe the
// request's target model, are the same for every decision over the same metrics view and
// candidates: the profile keeps them per view instead of asking again (SchedulingProfile::run).
enum class ScoreDepends {
  kMetrics,          // the candidates' view columns
  kMetricsAndModel,  // those and the request's target model
  kDecision,         // anything else too: live counters, the prompt, the plugin's own state
};

class Scorer : public Plugin {
 public:
  ExtensionPoint point() const final { return ExtensionPoint::kScorer; }
  virtual ScoreDepends depends_on() const { return ScoreDepends::kDecision; }
  // Writes scores[i] for every candidate i, meant in [0, 1] (clamped by the profile). Non-const
  // candidates: a scorer may fill the prefix match (CycleState::match_prefix).
  virtual void score(CycleState& state, Candidates& candidates, std::span<double> scores) = 0;
  // Whether its scores are in [0, 1] by construction (never NaN; up to rounding), from
  // candidates built from a metrics view: the profile then adds them without clamping.
  virtual bool bounded() const { return false; }
  // Adds its scores, weighted, to the candidates' totals: totals[i] = from[i] + weight x
  // score i (`from` null: zeros; it may be `totals`), clamped unless bounded(), as
  // add_weighted() (weighted_sum.hpp) sums score()'s scores. The profile calls this when it does
  // not show each scorer's share (its latency then includes the add). The default scores into
  // `scratch` and adds; a scorer may do both in one pass, with the same sum bit for bit.
  virtual void add_scores(CycleState& state, Candidates& candidates, double weight,
                          const double* from, std::span<double> totals, std::span<double> scratch);
};

class Picker : public Plugin {
 public:
  ExtensionPoint point() const final { return ExtensionPoint::kPicker; }
  // The index of one of `candidates` (never empty), given their weighted total scores.
  virtual std::size_t pick(CycleState& state, Candidates& candidates,
                           std::span<const double> totals) = 0;
};

// Accepted for compatibility with upstream configurations and doing nothing here
// (single-profile-handler, openai-parser).
class NoopPlugin final : public Plugin {
 public:
  ExtensionPoint point() const override { return ExtensionPoint::kOther; }
};

}  // namespace infergate::gateway::scheduling

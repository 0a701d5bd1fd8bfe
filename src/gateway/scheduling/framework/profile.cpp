#include "gateway/scheduling/framework/profile.hpp"

#include <algorithm>
#include <chrono>

namespace infergate::gateway::scheduling {
namespace {

template <typename P>
LatencyHistogram* latency_of(const P& plugin) {
  return &SchedulerLatency::instance().plugin(std::string(extension_point_name(plugin.point())),
                                              plugin.type, plugin.name);
}

std::int64_t elapsed_ns(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() -
                                                              since)
      .count();
}

}  // namespace

void SchedulingProfile::note_prefix(const Plugin& plugin) {
  if (const PromptBlockOptions* o = plugin.prefix_options(); o && !prefix_) {
    prefix_ = *o;
    prefix_hits_.emplace(PrefixMatchMetrics::instance().for_plugin(plugin.type, plugin.name));
  }
}

void SchedulingProfile::add_filter(std::shared_ptr<Filter> filter) {
  note_prefix(*filter);
  LatencyHistogram* l = latency_of(*filter);
  filters_.push_back({std::move(filter), l});
}

void SchedulingProfile::add_scorer(std::shared_ptr<Scorer> scorer, double weight) {
  note_prefix(*scorer);
  LatencyHistogram* l = latency_of(*scorer);
  scorers_.push_back({{std::move(scorer), l}, weight});
}

void SchedulingProfile::set_picker(std::shared_ptr<Picker> picker) {
  note_prefix(*picker);
  LatencyHistogram* l = latency_of(*picker);
  picker_ = {std::move(picker), l};
}

Candidate* SchedulingProfile::run(CycleState& state, std::vector<Candidate*>& candidates,
                                  RequestError& failure) const {
  for (const auto& f : filters_) {
    const auto t0 = std::chrono::steady_clock::now();
    f.plugin->filter(state, candidates);
    f.latency->observe(elapsed_ns(t0));
    if (candidates.empty()) {
      failure = {429,
                 "no endpoint can take the request now (filter " + f.plugin->name + " left none)"};
      return nullptr;
    }
  }
  thread_local std::vector<double> totals, scores;
  totals.assign(candidates.size(), 0.0);
  scores.resize(candidates.size());
  for (const auto& [s, weight] : scorers_) {
    std::fill(scores.begin(), scores.end(), 0.0);
    const auto t0 = std::chrono::steady_clock::now();
    s.plugin->score(state, candidates, scores);
    s.latency->observe(elapsed_ns(t0));
    for (std::size_t i = 0; i < candidates.size(); ++i)
      totals[i] += weight * std::clamp(scores[i], 0.0, 1.0);
  }
  const auto t0 = std::chrono::steady_clock::now();
  Candidate* chosen = picker_.plugin->pick(state, candidates, totals);
  picker_.latency->observe(elapsed_ns(t0));
  return chosen;
}

std::string SchedulingProfile::describe() const {
  std::string out;
  const auto add = [&](const std::string& s) { out += (out.empty() ? "" : " ") + s; };
  for (const auto& f : filters_) add(f.plugin->name);
  for (const auto& [s, w] : scorers_) {
    char weight[32];
    std::snprintf(weight, sizeof weight, "%g", w);
    add(s.plugin->name + "*" + weight);
  }
  if (picker_.plugin) add(picker_.plugin->name);
  return out;
}

}  // namespace infergate::gateway::scheduling

#include "gateway/scheduling/framework/profile.hpp"

#include <algorithm>
#include <array>
#include <atomic>

#include "gateway/scheduling/framework/weighted_sum.hpp"

namespace infergate::gateway::scheduling {
namespace {

template <typename P>
LatencyHistogram* latency_of(const P& plugin) {
  return &SchedulerLatency::instance().plugin(std::string(extension_point_name(plugin.point())),
                                              plugin.type, plugin.name);
}

// The plugin calls of one decision, timed by one clock read between each call and the next
// instead of two around each, on the cycle clock (about 10 ns a read on the development VM,
// where steady_clock takes 25 to 40; a decision over 500 endpoints reads it five times). The
// latencies are observed when the timer goes, so that observing one is not counted in the next
// call's time.
class CallTimer {
 public:
  CallTimer() : last_(CycleClock::now()) {}
  CallTimer(const CallTimer&) = delete;
  CallTimer& operator=(const CallTimer&) = delete;
  ~CallTimer() {
    if (count_ == 0) return;
    const double ns_per_tick = CycleClock::ns_per_tick();
    for (std::size_t i = 0; i < count_; ++i)
      calls_[i].latency->observe(
          static_cast<std::int64_t>(static_cast<double>(calls_[i].ticks) * ns_per_tick));
  }

  // When the last call ended.
  CycleClock::Ticks last() const { return last_; }

  // The call just made, whose latency goes to `latency`, ends now.
  void ended(LatencyHistogram* latency) {
    const CycleClock::Ticks now = CycleClock::now();
    const CycleClock::Ticks ticks = now > last_ ? now - last_ : 0;
    last_ = now;
    if (count_ < kMaxCalls)
      calls_[count_++] = {latency, ticks};
    else
      latency->observe(CycleClock::ns_between(0, ticks));
  }

 private:
  static constexpr std::size_t kMaxCalls = 16;
  struct Call {
    LatencyHistogram* latency;
    CycleClock::Ticks ticks;
  };
  CycleClock::Ticks last_;
  Call calls_[kMaxCalls]{};
  std::size_t count_ = 0;
};

}  // namespace

// The weighted scores of one profile's kept scorers over one view (and model), summed as run()
// sums them.
struct SchedulingProfile::ViewScores {
  std::uint64_t profile = 0;  // 0: unused
  std::uint64_t view = 0;
  std::string model;
  std::vector<double> sum;
};

namespace {

// A thread's kept view scores: a few, for the pools and profiles it decides for in turn.
constexpr std::size_t kKeptViews = 4;

}  // namespace

SchedulingProfile::SchedulingProfile(std::string name)
    : name_(std::move(name)), serial_([] {
        static std::atomic<std::uint64_t> made{0};
        return made.fetch_add(1, std::memory_order_relaxed) + 1;
      }()) {}

template <typename Timer>
const SchedulingProfile::ViewScores& SchedulingProfile::view_scores(CycleState& state,
                                                                    Candidates& candidates,
                                                                    std::span<double> scratch,
                                                                    Timer& timer) const {
  thread_local std::array<ViewScores, kKeptViews> kept;
  thread_local std::size_t next_replaced = 0;
  const std::uint64_t view = candidates.whole_view->serial;
  static const std::string kAnyModel;
  const std::string& model = keyed_by_model_ ? state.request.target_model : kAnyModel;
  for (const ViewScores& e : kept) {
    if (e.profile == serial_ && e.view == view && e.model == model) return e;
  }
  ViewScores& e = kept[next_replaced++ % kKeptViews];
  // The kept scorers read the metrics columns.
  candidates.fill_metrics();
  e.profile = 0;  // keyed once complete: a scorer that throws leaves no half-made entry
  e.sum.resize(candidates.size());
  for (std::size_t pos = 0; pos < kept_count_; ++pos) {
    const auto& [s, weight] = scorers_[sum_order_[pos]];
    s.plugin->add_scores(state, candidates, weight, pos == 0 ? nullptr : e.sum.data(), e.sum,
                         scratch);
    timer.ended(s.latency);
  }
  e.profile = serial_;
  e.view = view;
  e.model = model;
  return e;
}

void Scorer::add_scores(CycleState& state, Candidates& candidates, double weight,
                        const double* from, std::span<double> totals, std::span<double> scratch) {
  score(state, candidates, scratch);
  add_weighted(from, scratch, weight, bounded(), totals);
}

void SchedulingProfile::note_prefix(const Plugin& plugin) {
  if (const PromptBlockOptions* o = plugin.prefix_options(); o && !prefix_) {
    prefix_ = *o;
    prefix_hits_.emplace(PrefixMatchMetrics::instance().for_plugin(plugin.type, plugin.name));
  }
}

void SchedulingProfile::add_filter(std::shared_ptr<Filter> filter) {
  note_prefix(*filter);
  LatencyHistogram* l = latency_of(*filter);
  reads_metrics_each_decision_ = reads_metrics_each_decision_ || filter->reads_metrics();
  filters_.push_back({std::move(filter), l});
}

void SchedulingProfile::add_scorer(std::shared_ptr<Scorer> scorer, double weight) {
  note_prefix(*scorer);
  LatencyHistogram* l = latency_of(*scorer);
  const ScoreDepends depends = scorer->depends_on();
  if (depends != ScoreDepends::kDecision) {
    keeps_view_scores_ = true;
    keyed_by_model_ = keyed_by_model_ || depends == ScoreDepends::kMetricsAndModel;
    sum_order_.insert(sum_order_.begin() + static_cast<std::ptrdiff_t>(kept_count_++),
                      scorers_.size());
  } else {
    sum_order_.push_back(scorers_.size());
    reads_metrics_each_decision_ = reads_metrics_each_decision_ || scorer->reads_metrics();
  }
  scorers_.push_back({{std::move(scorer), l}, weight});
}

void SchedulingProfile::set_picker(std::shared_ptr<Picker> picker) {
  note_prefix(*picker);
  LatencyHistogram* l = latency_of(*picker);
  reads_metrics_each_decision_ = reads_metrics_each_decision_ || picker->reads_metrics();
  picker_ = {std::move(picker), l};
}

std::optional<std::size_t> SchedulingProfile::run(CycleState& state, Candidates& candidates,
                                                  RequestError& failure, Decision* explain_to,
                                                  CycleClock::Ticks* picked_at) const {
  // The candidates' metrics columns, when copied lazily (Candidates::metrics_pending), are
  // copied here for the plugins asked on every decision and for an explained decision (every
  // scorer is asked), and in view_scores() for the kept scorers.
  if (reads_metrics_each_decision_ || explain_to) candidates.fill_metrics();
  CallTimer timer;
  for (const auto& f : filters_) {
    f.plugin->filter(state, candidates);
    timer.ended(f.latency);
    if (candidates.empty()) {
      failure = {429,
                 "no endpoint can take the request now (filter " + f.plugin->name + " left none)"};
      return std::nullopt;
    }
  }
  const std::size_t n = candidates.size();
  thread_local std::vector<double> totals, scores, shares;
  scores.resize(n);
  // An explained decision asks every scorer (it shows each one's share).
  const ViewScores* kept = keeps_view_scores_ && candidates.whole_view && !explain_to
                               ? &view_scores(state, candidates, scores, timer)
                               : nullptr;
  // The totals start from the kept scores' sum, or from zeros, which the first scorer asked now
  // adds to as it writes them. (Candidates still pending reach only the scorers that read none
  // of their columns: an explained decision has them filled above.)
  const double* sum_so_far = kept ? kept->sum.data() : nullptr;
  totals.resize(n);
  if (explain_to) shares.assign(scorers_.size() * n, 0.0);
  for (std::size_t pos = kept ? kept_count_ : 0; pos < sum_order_.size(); ++pos) {
    const std::size_t k = sum_order_[pos];
    const auto& [s, weight] = scorers_[k];
    if (explain_to) {  // each scorer's share shown: its scores are kept apart
      s.plugin->score(state, candidates, scores);
      timer.ended(s.latency);
      add_weighted(sum_so_far, scores, weight, s.plugin->bounded(), totals);
      for (std::size_t i = 0; i < n; ++i) shares[k * n + i] = weight * clamp_score(scores[i]);
    } else {
      s.plugin->add_scores(state, candidates, weight, sum_so_far, totals, scores);
      timer.ended(s.latency);
    }
    sum_so_far = totals.data();
  }
  if (sum_so_far == nullptr) std::fill(totals.begin(), totals.end(), 0.0);
  const std::span<const double> summed = sum_so_far == nullptr || sum_so_far == totals.data()
                                             ? std::span<const double>(totals)
                                             : std::span<const double>(kept->sum);
  const std::size_t chosen = picker_.plugin->pick(state, candidates, summed);
  timer.ended(picker_.latency);
  if (picked_at) *picked_at = timer.last();
  if (explain_to) explain(candidates, shares, summed, chosen, *explain_to);
  return chosen;
}

void SchedulingProfile::explain(const Candidates& candidates, std::span<const double> shares,
                                std::span<const double> totals, std::size_t chosen,
                                Decision& out) const {
  const std::size_t n = candidates.size();
  const auto scored = [&](std::size_t i) {
    const Endpoint& ep = *candidates.endpoint[i];
    ScoredEndpoint e{ep.spec.name, ep.address, totals[i], {}};
    for (std::size_t k = 0; k < scorers_.size(); ++k)
      e.shares.push_back({scorers_[k].first.plugin->name, scorers_[k].second, shares[k * n + i]});
    return e;
  };
  out.profile = name_;
  out.picker = picker_.plugin->name;
  out.candidates = n;
  std::vector<std::size_t> others;
  for (std::size_t i = 0; i < n; ++i) {
    if (i == chosen)
      out.chosen = scored(i);
    else
      others.push_back(i);
  }
  const std::size_t keep = std::min(others.size(), DecisionLog::kRunnersUp);
  std::partial_sort(others.begin(), others.begin() + static_cast<std::ptrdiff_t>(keep),
                    others.end(),
                    [&](std::size_t a, std::size_t b) { return totals[a] > totals[b]; });
  for (std::size_t r = 0; r < keep; ++r) out.runners_up.push_back(scored(others[r]));
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

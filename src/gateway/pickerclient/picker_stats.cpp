#include "gateway/pickerclient/picker_stats.hpp"

#include "metrics/prometheus_writer.hpp"

namespace infergate::gateway::pickerclient {

namespace {
constexpr std::string_view kOutcomes[] = {"decided", "refused", "failed_open", "failed_closed"};
constexpr auto kLogEvery = std::chrono::seconds(10);

// 10 us to about 14 s, each bound a quarter above the last: quantiles read from the buckets are
// within 12 % of the truth.
std::vector<double> decision_bounds() {
  std::vector<double> out;
  for (double b = 10e-6; b < 15; b *= 1.25) out.push_back(b);
  return out;
}
}  // namespace

PickerStats::PerPicker::PerPicker() : decision(decision_bounds()) {}

void PickerStats::record_decision_time(const std::string& picker, std::int64_t nanoseconds) {
  std::lock_guard lock(mu_);
  pickers_[picker].decision.observe(nanoseconds);
}

void PickerStats::record(const std::string& picker, PickerOutcome outcome,
                         std::string_view failure) {
  std::string line;
  {
    std::lock_guard lock(mu_);
    PerPicker& p = pickers_[picker];
    ++p.counts[static_cast<int>(outcome)];
    if (outcome != PickerOutcome::kFailedOpen && outcome != PickerOutcome::kFailedClosed) return;
    const auto now = std::chrono::steady_clock::now();
    if (p.logged != std::chrono::steady_clock::time_point{} && now - p.logged < kLogEvery) {
      ++p.unlogged;
      return;
    }
    line = "endpoint picker " + picker + " failed: " + std::string(failure) +
           (outcome == PickerOutcome::kFailedOpen ? " (FailOpen: InferGate picked)"
                                                  : " (FailClose: answered 503)");
    if (p.unlogged > 0) line += "; " + std::to_string(p.unlogged) + " more failures before this";
    p.logged = now;
    p.unlogged = 0;
  }
  if (on_event) on_event(line);
}

std::uint64_t PickerStats::count(const std::string& picker, PickerOutcome outcome) const {
  std::lock_guard lock(mu_);
  const auto it = pickers_.find(picker);
  return it == pickers_.end() ? 0 : it->second.counts[static_cast<int>(outcome)];
}

void PickerStats::render(metrics::PrometheusWriter& w) const {
  constexpr std::string_view kName = "infergate_picker_client_requests_total";
  w.family(kName, metrics::MetricType::kCounter,
           "Requests of pools with an endpoint picker of their own, by what asking it came to: "
           "decided, refused, or failed and then picked by InferGate (failed_open) or answered "
           "503 (failed_closed).");
  std::lock_guard lock(mu_);
  for (const auto& [picker, p] : pickers_)
    for (int i = 0; i < 4; ++i)
      w.sample(kName, metrics::LabelSet{{"picker", picker}, {"outcome", kOutcomes[i]}},
               static_cast<double>(p.counts[i]));
  constexpr std::string_view kDecision = "infergate_picker_client_decision_seconds";
  w.family(kDecision, metrics::MetricType::kHistogram,
           "How long pools' own endpoint pickers took to decide, from the request's headers to "
           "the decision (the body's transfer included).");
  for (const auto& [picker, p] : pickers_)
    w.histogram(kDecision, metrics::LabelSet{{"picker", picker}}, p.decision.bounds(),
                p.decision.read());
}

}  // namespace infergate::gateway::pickerclient

#include "gateway/scheduling/framework/prefix_match_metrics.hpp"

#include <string_view>

#include "metrics/prometheus_writer.hpp"

namespace infergate::gateway::scheduling {

void PrefixMatchMetrics::Hits::observe(std::size_t matched_chars, std::size_t total_chars) {
  bytes.observe(static_cast<double>(matched_chars));
  if (total_chars > 0)
    ratio.observe(static_cast<double>(matched_chars) / static_cast<double>(total_chars));
}

PrefixMatchMetrics& PrefixMatchMetrics::instance() {
  static PrefixMatchMetrics metrics;
  return metrics;
}

PrefixMatchMetrics::Recorder PrefixMatchMetrics::for_plugin(const std::string& type,
                                                            const std::string& name) {
  std::lock_guard lock(mu_);
  auto& slot = plugins_[{name, type}];
  if (!slot) slot = std::make_unique<Hits>();
  return Recorder(*slot);
}

PrefixMatchMetrics::PoolTotals& PrefixMatchMetrics::for_pool(std::string_view pool) {
  std::lock_guard lock(mu_);
  auto it = pools_.find(pool);
  if (it == pools_.end())
    it = pools_.emplace(std::string(pool), std::make_unique<PoolTotals>()).first;
  return *it->second;
}

void PrefixMatchMetrics::render(metrics::PrometheusWriter& w, std::size_t entries) const {
  using metrics::LabelSet;
  using metrics::MetricType;
  // HELP texts as upstream has them: the GIE ones without llm-d's "[Deprecated: ...]" notes.
  constexpr std::string_view kSizeHelp = "[ALPHA] Size of the prefix indexer.";
  constexpr std::string_view kRatioHelp =
      "[ALPHA] Ratio of prefix length matched to total prefix length in the cache lookup.";
  constexpr std::string_view kBytesHelp =
      "[ALPHA] Length of the prefix match in number of bytes in the cache lookup.";
  const auto plugin_labels = [](const std::pair<std::string, std::string>& key) {
    return LabelSet{{"plugin_name", key.first}, {"plugin_type", key.second}};
  };
  std::lock_guard lock(mu_);

  w.family("inference_extension_prefix_indexer_size", MetricType::kGauge, kSizeHelp);
  w.sample("inference_extension_prefix_indexer_size", static_cast<double>(entries));
  w.family("llm_d_epp_prefix_indexer_size", MetricType::kGauge, kSizeHelp);
  for (const auto& [key, hits] : plugins_)
    w.sample("llm_d_epp_prefix_indexer_size", plugin_labels(key), static_cast<double>(entries));

  const auto histograms = [&](std::string_view suffix, std::string_view help,
                              AtomicValueHistogram Hits::*which) {
    const std::string gie = "inference_extension_prefix_indexer_" + std::string(suffix);
    w.family(gie, MetricType::kHistogram, help);
    // Every plugin's, summed (their bounds are the same).
    static const Hits kBounds;  // observes nothing: its bounds are every plugin's
    const AtomicValueHistogram& bounds_of = kBounds.*which;
    HistogramReading all;
    all.buckets.assign(bounds_of.bounds().size() + 1, 0);
    for (const auto& [key, hits] : plugins_) {
      const HistogramReading own = ((*hits).*which).read();
      for (std::size_t b = 0; b < all.buckets.size(); ++b) all.buckets[b] += own.buckets[b];
      all.sum += own.sum;
      all.count += own.count;
    }
    w.histogram(gie, {}, bounds_of.bounds(), all);
    const std::string llmd = "llm_d_epp_prefix_indexer_" + std::string(suffix);
    w.family(llmd, MetricType::kHistogram, help);
    for (const auto& [key, hits] : plugins_) {
      const AtomicValueHistogram& h = (*hits).*which;
      w.histogram(llmd, plugin_labels(key), h.bounds(), h.read());
    }
  };
  histograms("hit_ratio", kRatioHelp, &Hits::ratio);
  histograms("hit_bytes", kBytesHelp, &Hits::bytes);

  const auto per_pool = [&](std::string_view name, std::string_view help,
                            std::atomic<std::uint64_t> PoolTotals::*field) {
    w.family(name, MetricType::kCounter, help);
    for (const auto& [pool, totals] : pools_)
      w.sample(name, LabelSet{{"pool", pool}},
               static_cast<double>(((*totals).*field).load(std::memory_order_relaxed)));
  };
  per_pool("infergate_prefix_matched_chars_total",
           "Prompt characters the chosen endpoint already held (prefix index), per pool.",
           &PoolTotals::matched_chars);
  per_pool("infergate_prefix_prompt_chars_total",
           "Prompt characters looked up in the prefix index, per pool.", &PoolTotals::prompt_chars);
}

}  // namespace infergate::gateway::scheduling

// How well the prefix index matched, as both upstream pickers report it: per decision that
// looked the prompt up, the chosen endpoint's matched blocks over the prompt's blocks
// (hit_ratio) and the matched length in characters (hit_bytes: blocks x block size, upstream's
// "bytes" being 4 characters a token), plus the index's size. Rendered as
//   inference_extension_prefix_indexer_size, _hit_ratio, _hit_bytes {}  (GIE v1.5.0)
//   llm_d_epp_prefix_indexer_size, _hit_ratio, _hit_bytes {plugin_name, plugin_type}
//     (llm-d router v0.10.0, approximate prefix plugin)
// Upstream's plugin owns its index; here the plugins of a pool share the pool's, so each
// plugin's size is the entries of every pool's index.
// Process-wide, as the plugin latencies.
//
// Thread-safety: Recorder::observe() is lock-free; for_plugin() takes a lock and is meant for
// building profiles; render() may run concurrently with observations.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>

#include "common/histogram.hpp"

namespace infergate::metrics {
class PrometheusWriter;
}

namespace infergate::gateway::scheduling {

class PrefixMatchMetrics {
 public:
  struct Hits {
    AtomicValueHistogram ratio{{0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0}};
    AtomicValueHistogram bytes{
        {0, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536}};
    void observe(std::size_t matched_chars, std::size_t total_chars);
  };
  // One plugin's observations. They also count in the unlabelled families, which render()
  // sums from every plugin's.
  class Recorder {
   public:
    explicit Recorder(Hits& own) : own_(own) {}
    void observe(std::size_t matched_blocks, std::size_t total_blocks,
                 std::size_t block_chars) const {
      own_.observe(matched_blocks * block_chars, total_blocks * block_chars);
    }

   private:
    Hits& own_;
  };

  // Per pool (upstream's families have no pool label): characters matched and looked up, whose
  // ratio is the pool's hit ratio (infergate_prefix_{matched,prompt}_chars_total{pool}).
  struct PoolTotals {
    std::atomic<std::uint64_t> matched_chars{0}, prompt_chars{0};
  };

  static PrefixMatchMetrics& instance();
  PoolTotals& for_pool(std::string_view pool);
  Recorder for_plugin(const std::string& type, const std::string& name);
  // The six families; `entries`: the (block, endpoint) entries of every pool's index.
  void render(metrics::PrometheusWriter& writer, std::size_t entries) const;

 private:
  mutable std::mutex mu_;
  std::map<std::pair<std::string, std::string>, std::unique_ptr<Hits>> plugins_;  // (name, type)
  std::map<std::string, std::unique_ptr<PoolTotals>, std::less<>> pools_;
};

}  // namespace infergate::gateway::scheduling

// The request families of /metrics, per model, target model, fairness id and priority, under
// the names upstream's picker exports: llm-d router v0.10.0's `llm_d_epp_request_*` (every
// label) and the Inference Extension v1.5.0's `inference_objective_*` (summed over the labels
// that version lacks). Names, types, HELP texts, buckets and labels are upstream's.
//
// Label values that clients choose are capped (LabelCap: 1,000 model names, shared by model and
// target; 1,000 fairness ids), as upstream caps them; the configuration's model names never
// fold into "other". The series themselves are capped too (kMaxSeries): past it, a request is
// counted under "other" for every label but priority.
//
// Cost: when a request is resolved, nothing when its thread's last request had the same labels,
// else one lock and one hash lookup; when it ends, the lock of its worker's shard of the series
// (no worker waits for another; a /metrics render sums the shards).
//
// Thread-safety: every method from any thread.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "common/clock.hpp"
#include "metrics/label_cap.hpp"

namespace infergate::metrics {
class PrometheusWriter;
}
namespace infergate::config {
struct Config;
}

namespace infergate::gateway {

struct RequestRecord;

// Inter-token latency of one streamed response, gathered as it is relayed (no lock), and added
// to its series when the request ends. Bounds: upstream's request_streaming_itl_seconds.
struct InterTokenLatency {
  static constexpr std::array<double, 15> kBounds{0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1,
                                                  0.15,  0.2,   0.3,  0.5,  0.75, 1,    2};
  std::array<std::uint32_t, kBounds.size() + 1> counts{};
  double sum = 0;
  std::uint32_t count = 0;
  void observe(double seconds);
};

class RequestMetrics {
 public:
  static constexpr std::size_t kMaxSeries = 10000;

  // One (model, target, fairness, priority) series; it lives as long as the RequestMetrics.
  struct Series;

  RequestMetrics();
  ~RequestMetrics();
  RequestMetrics(const RequestMetrics&) = delete;
  RequestMetrics& operator=(const RequestMetrics&) = delete;

  // Model names of the configuration: always their own label value (called at each load).
  void pin_models(const std::vector<std::string>& names);

  // The series of a request, its label values capped.
  Series* series(std::string_view model, std::string_view target, std::string_view fairness,
                 std::int64_t priority);
  // What a request's series would name it, for families kept elsewhere (flow control).
  struct Labels {
    std::string_view model, target, fairness;
  };
  static Labels labels(const Series& series);

  // A request of `series` is running from construction to destruction.
  class Running {
   public:
    Running() = default;
    explicit Running(Series* series);
    Running(Running&& other) noexcept : series_(std::exchange(other.series_, nullptr)) {}
    Running& operator=(Running&& other) noexcept;
    Running(const Running&) = delete;
    Running& operator=(const Running&) = delete;
    ~Running() { release(); }
    void release();

   private:
    Series* series_ = nullptr;
  };

  // A request ended: its counters and histograms (its series, or the one its labels name).
  void finished(const RequestRecord& record);

  // An InferenceModelRewrite chose the target model.
  void rewrote(std::string_view rewrite_name, std::string_view model, std::string_view target);

  // Every request family, both name sets.
  void render(metrics::PrometheusWriter& writer) const;

 private:
  Series* series_locked(std::string_view model, std::string_view target, std::string_view fairness,
                        std::int64_t priority);

  const std::uint64_t id_;  // tells instances apart in the threads' cache of their last series
  mutable std::mutex mu_;
  metrics::LabelCap models_;
  metrics::LabelCap fairness_;
  struct KeyHash {
    std::size_t operator()(const std::string& key) const { return std::hash<std::string>{}(key); }
  };
  std::unordered_map<std::string, std::unique_ptr<Series>, KeyHash> series_;
  std::vector<Series*> order_;  // first seen first: a stable /metrics page
  struct Rewrite {
    std::string name, model, target;
    std::uint64_t count = 0;
  };
  std::map<std::string, Rewrite> rewrites_;  // by name, model and target: a stable order
  metrics::LabelCap rewrite_models_;
};

// The model names a configuration declares (InferenceModels, their targets, InferenceModelRewrite
// matches and targets): label values that never fold into "other".
std::vector<std::string> configured_model_names(const config::Config& config);

// Upstream's error_code for a response status: BadRequest, Unauthorized, Forbidden, NotFound,
// ResourceExhausted (429), ServiceUnavailable (503), ModelServerError (an upstream failure or
// 502/504), Internal (other 5xx); empty for a client that went away (499) and for success.
std::string_view upstream_error_code(int status, bool from_model_server);

}  // namespace infergate::gateway

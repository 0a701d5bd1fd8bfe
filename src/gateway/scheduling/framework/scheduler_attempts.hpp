// Scheduling attempts by outcome, as both upstream pickers count them: one per decision (each
// pick of a request, retries included), "success" with the chosen endpoint or "failure" with
// empty endpoint labels. Rendered as
//   inference_extension_scheduler_attempts_total{namespace, pod_name, port, status,
//     target_model_name}  (GIE v1.5.0)
//   llm_d_epp_scheduler_attempts_total{endpoint_name, namespace, port, status,
//     target_model_name}  (llm-d router v0.10.0)
// The endpoint's name is its spec name (the Pod's in Kubernetes), the namespace its pool's.
// The target model is the client's to influence (a rewrite header, a LoRA adapter): at most
// kMaxTargetModels distinct names are kept, later ones count under "other".
// Process-wide, as the plugin latencies.
//
// Thread-safety: every method from any thread. A count takes no lock once its thread has
// counted the same series before: each thread keeps the counters it found (an atomic per
// series); finding a new one, and render(), lock the map of series.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <tuple>

namespace infergate::metrics {
class PrometheusWriter;
}

namespace infergate::gateway {
struct Endpoint;
}

namespace infergate::gateway::scheduling {

class SchedulerAttempts {
 public:
  static constexpr std::size_t kMaxTargetModels = 1000;

  static SchedulerAttempts& instance();
  // One decision for `target_model` in the pool of namespace `ns`: `chosen` null when it failed.
  void count(std::string_view target_model, std::string_view ns, const Endpoint* chosen);
  // Both families.
  void render(metrics::PrometheusWriter& writer) const;

 private:
  // status, target model, endpoint name, namespace, port ("" on failure)
  using Key = std::tuple<std::string, std::string, std::string, std::string, std::string>;
  using KeyView = std::tuple<std::string_view, std::string_view, std::string_view, std::string_view,
                             std::string_view>;
  struct Less {
    using is_transparent = void;
    template <typename A, typename B>
    bool operator()(const A& a, const B& b) const {
      return view(a) < view(b);
    }
    static KeyView view(const Key& k) {
      return {std::get<0>(k), std::get<1>(k), std::get<2>(k), std::get<3>(k), std::get<4>(k)};
    }
    static const KeyView& view(const KeyView& k) { return k; }
  };

  using Counter = std::atomic<std::uint64_t>;
  // The series' counter, made on its first count (under the lock).
  Counter& counter(const KeyView& key);

  // Tells the threads' kept counters of one instance from another's (an address may be reused).
  static std::uint64_t next_instance();
  const std::uint64_t instance_ = next_instance();
  mutable std::mutex mu_;
  std::set<std::string, std::less<>> targets_;  // the distinct target models kept
  std::map<Key, Counter, Less> counts_;         // nodes never move: threads keep pointers
};

}  // namespace infergate::gateway::scheduling

// What the gateway's calls to pools' endpoint pickers came to, per picker: decided, refused
// (an ImmediateResponse), or failed (down, too slow, out of protocol, no endpoint of the pool),
// then handled by InferGate's own picker (FailOpen) or answered 503 (FailClose). A failure is a
// degraded mode: it is counted, and logged at most once per picker every ten seconds (with how
// many more there were meanwhile). How long each picker took to decide (from the request's
// headers to its decision, the body's transfer included) is a histogram per picker.
//
// Thread-safety: every member may be called from any thread.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <string_view>

#include "common/histogram.hpp"

namespace infergate::metrics {
class PrometheusWriter;
}

namespace infergate::gateway::pickerclient {

enum class PickerOutcome { kDecided, kRefused, kFailedOpen, kFailedClosed };

class PickerStats {
 public:
  // `failure` says what went wrong (the failed outcomes).
  void record(const std::string& picker, PickerOutcome outcome, std::string_view failure = {});
  // infergate_picker_client_requests_total{picker, outcome} and
  // infergate_picker_client_decision_seconds{picker}.
  void render(metrics::PrometheusWriter& w) const;
  std::uint64_t count(const std::string& picker, PickerOutcome outcome) const;
  // A decision (or refusal) that took `nanoseconds`.
  void record_decision_time(const std::string& picker, std::int64_t nanoseconds);

  // Where failure lines go (null: nowhere).
  std::function<void(const std::string&)> on_event;

 private:
  struct PerPicker {
    PerPicker();
    std::uint64_t counts[4] = {0, 0, 0, 0};
    AtomicHistogram decision;
    std::chrono::steady_clock::time_point logged{};
    std::uint64_t unlogged = 0;  // failures since the last line
  };
  mutable std::mutex mu_;
  std::map<std::string, PerPicker, std::less<>> pickers_;
};

}  // namespace infergate::gateway::pickerclient

// Latency of every plugin call and of whole scheduling decisions, as Prometheus histograms
// (inference_extension_scheduler_plugin_duration_seconds and ..._e2e_duration_seconds, the
// upstream names). Process-wide: profiles are rebuilt on reload, their histograms stay.
//
// Thread-safety: observe() is lock-free (atomics); histogram() takes a lock and is meant for
// building profiles; render() may run concurrently with observe().
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>

namespace infergate::gateway::scheduling {

class LatencyHistogram {
 public:
  static constexpr std::array<double, 12> kBounds = {1e-6,   2.5e-6, 5e-6, 1e-5, 2.5e-5, 5e-5,
                                                      1e-4,   2.5e-4, 5e-4, 1e-3, 1e-2,   1e-1};
  void observe(std::int64_t nanoseconds);
  // Appends the bucket, sum and count lines of `name{labels}`.
  void render(std::string& out, const std::string& name, const std::string& labels) const;

 private:
  std::array<std::atomic<std::uint64_t>, kBounds.size() + 1> buckets_{};
  std::atomic<std::uint64_t> count_{0};
  std::atomic<std::uint64_t> sum_ns_{0};
};

class SchedulerLatency {
 public:
  static SchedulerLatency& instance();
  LatencyHistogram& plugin(const std::string& point, const std::string& type, const std::string& name);
  LatencyHistogram& e2e() { return e2e_; }
  void render(std::string& out) const;

 private:
  mutable std::mutex mu_;
  std::map<std::tuple<std::string, std::string, std::string>, std::unique_ptr<LatencyHistogram>> plugins_;
  LatencyHistogram e2e_;
};

}  // namespace infergate::gateway::scheduling

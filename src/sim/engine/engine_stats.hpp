// Counters and latency histograms of one simulated replica, in the shape vLLM exports them.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace infergate::sim {

class Histogram {
 public:
  explicit Histogram(std::vector<double> upper_bounds);
  void observe(double value);
  const std::vector<double>& bounds() const { return bounds_; }
  // counts()[i] is the number of observations <= bounds()[i] (not cumulative); the last
  // entry counts those above every bound.
  const std::vector<std::uint64_t>& counts() const { return counts_; }
  double sum() const { return sum_; }
  std::uint64_t count() const { return count_; }

 private:
  std::vector<double> bounds_;
  std::vector<std::uint64_t> counts_;
  double sum_ = 0;
  std::uint64_t count_ = 0;
};

struct EngineStats {
  EngineStats();
  std::uint64_t prompt_tokens = 0;
  std::uint64_t generation_tokens = 0;
  std::uint64_t prefix_cache_queries = 0;  // prompt tokens looked up
  std::uint64_t prefix_cache_hits = 0;     // of those, found cached
  std::uint64_t preemptions = 0;
  std::uint64_t steps = 0;
  std::map<std::string, std::uint64_t> finished_by_reason;  // "stop", "length", "abort"
  Histogram time_to_first_token;                            // seconds
  Histogram inter_token_latency;                            // seconds
  Histogram e2e_request_latency;                            // seconds
  Histogram iteration_tokens;                               // tokens per step
};

}  // namespace infergate::sim

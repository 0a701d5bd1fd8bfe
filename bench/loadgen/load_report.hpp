// Latency samples of a load run and their summary (inference-perf conventions).
#pragma once

#include <map>
#include <string>
#include <vector>

namespace infergate::bench {

struct Percentiles {
  double mean = 0, p50 = 0, p90 = 0, p99 = 0;
};
Percentiles percentiles(std::vector<double> values);

struct LoadReport {
  int sent = 0;
  int ok = 0;
  std::map<int, int> errors_by_status;  // 0: transport failure
  std::vector<double> ttft_s;           // streamed requests: send -> first body byte
  std::vector<double> e2e_s;
  long output_tokens = 0;
  // From the responses' usage (--include-usage for streams): prompt tokens and those the
  // server found in its prefix cache, over the `with_usage` responses that reported it.
  int with_usage = 0;
  long prompt_tokens = 0;
  long cached_tokens = 0;
  double wall_s = 0;
  std::string to_json() const;
  std::string to_text() const;
};

}  // namespace infergate::bench

// Latency samples of a load run and their summary (inference-perf conventions).
#pragma once

#include <boost/json/object.hpp>
#include <map>
#include <string>
#include <vector>

namespace infergate::bench {

struct Percentiles {
  double mean = 0, p50 = 0, p90 = 0, p99 = 0;
};
Percentiles percentiles(std::vector<double> values);

// The requests of one class (one model of a --mix): what became of them and how fast.
struct ClassReport {
  int sent = 0;
  int ok = 0;
  std::map<int, int> errors_by_status;  // 0: transport failure
  std::vector<double> ttft_s;           // streamed requests answered 200: send -> first body byte
  std::vector<double> e2e_s;            // requests answered 200
  std::vector<double> time_to_429_s;    // send -> the whole 429 response
  boost::json::object to_json() const;
};

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
  double wall_s = 0;  // from the first arrival until the last response
  // Completed (200) requests that finished within the measured window (after --warmup, before
  // the end of --duration, whenever they were sent), which measures the servers' throughput
  // while the load lasted, without the ramp and the drain.
  int ok_in_window = 0;
  double window_s = 0;
  std::vector<double> time_to_429_s;
  std::map<std::string, ClassReport> classes;  // with --mix, by model
  std::string to_json() const;
  std::string to_text() const;
};

}  // namespace infergate::bench

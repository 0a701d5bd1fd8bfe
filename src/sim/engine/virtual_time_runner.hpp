// Drives an Engine in virtual time: no sockets, no sleeping. A run of thousands of requests
// that would take minutes of wall time on a GPU takes milliseconds, and is exactly repeatable.
// Used by the calibration tests and the simulator's own unit tests.
#pragma once

#include <functional>
#include <vector>

#include "sim/engine/engine.hpp"
#include "sim/workload/workload.hpp"

namespace infergate::sim {

struct RunReport {
  std::vector<RequestResult> results;  // in submission order; all finished
  TimePoint end{};                     // when the last request finished

  // Time-averaged number of requests in the system (submitted, not finished) over [from, to).
  double mean_in_system(TimePoint from, TimePoint to) const;
  // Requests finished per second over [from, to).
  double completion_rate(TimePoint from, TimePoint to) const;
};

class VirtualTimeRunner {
 public:
  explicit VirtualTimeRunner(Engine& engine);
  ~VirtualTimeRunner();

  // Submits each item at its arrival time and runs until all have finished.
  RunReport run_open_loop(const std::vector<WorkloadItem>& items);
  // Keeps `concurrency` requests in the system: each one that finishes is replaced at once by
  // next(), until `total` have been submitted; runs until all have finished.
  RunReport run_closed_loop(int concurrency, int total, const std::function<WorkloadItem()>& next);

 private:
  class Recorder;
  void submit(const WorkloadItem& item, TimePoint now);
  void run(const std::function<std::optional<TimePoint>()>& next_arrival,
           const std::function<void(TimePoint)>& submit_due);

  Engine& engine_;
  std::vector<std::unique_ptr<Recorder>> recorders_;
  RunReport report_;
  int finished_ = 0;
  std::function<void(TimePoint)> on_finish_;
};

}  // namespace infergate::sim

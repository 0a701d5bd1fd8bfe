// Moves a replica's Engine through real time with one Asio timer: plan a step, wait its
// duration, apply it, repeat while there is work; sleep until the next request reaches the
// engine queue otherwise. The engine itself never sees a clock (see engine.hpp).
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>

#include "common/clock.hpp"
#include "sim/engine/engine.hpp"

namespace infergate::sim {

class EngineDriver {
 public:
  EngineDriver(const boost::asio::any_io_executor& executor, Engine& engine, const Clock& clock);
  // Call after submitting work: starts stepping if the engine is idle.
  void kick();
  void stop();

 private:
  void arm(TimePoint when, bool step);

  boost::asio::steady_timer timer_;
  Engine& engine_;
  const Clock& clock_;
  bool armed_ = false;
  bool stopped_ = false;
};

}  // namespace infergate::sim

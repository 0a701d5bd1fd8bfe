#include "sim/server/engine_driver.hpp"

namespace infergate::sim {

EngineDriver::EngineDriver(const boost::asio::any_io_executor& executor, Engine& engine,
                           const Clock& clock)
    : timer_(executor), engine_(engine), clock_(clock) {}

void EngineDriver::kick() {
  if (armed_ || stopped_) return;
  const TimePoint now = clock_.now();
  if (auto d = engine_.begin_step(now)) {
    arm(now + *d, true);
  } else if (auto t = engine_.next_arrival()) {
    arm(*t, false);
  }
}

void EngineDriver::stop() {
  stopped_ = true;
  timer_.cancel();
}

void EngineDriver::arm(TimePoint when, bool step) {
  armed_ = true;
  timer_.expires_at(std::chrono::steady_clock::time_point(
      std::chrono::duration_cast<std::chrono::steady_clock::duration>(when)));
  timer_.async_wait([this, step](const boost::system::error_code& ec) {
    armed_ = false;
    if (ec || stopped_) return;
    if (step) engine_.end_step(clock_.now());
    kick();
  });
}

}  // namespace infergate::sim

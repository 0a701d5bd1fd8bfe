#include "sim/engine/virtual_time_runner.hpp"

#include <algorithm>

namespace infergate::sim {

class VirtualTimeRunner::Recorder final : public RequestObserver {
 public:
  Recorder(VirtualTimeRunner& runner, std::size_t index) : runner_(runner), index_(index) {}
  void on_token(std::size_t, TimePoint) override {}
  void on_finished(const RequestResult& result) override {
    runner_.report_.results[index_] = result;
    ++runner_.finished_;
    if (runner_.on_finish_) runner_.on_finish_(result.finished);
  }

 private:
  VirtualTimeRunner& runner_;
  std::size_t index_;
};

VirtualTimeRunner::VirtualTimeRunner(Engine& engine) : engine_(engine) {}
VirtualTimeRunner::~VirtualTimeRunner() = default;

double RunReport::mean_in_system(TimePoint from, TimePoint to) const {
  double area = 0;
  for (const auto& r : results) {
    const TimePoint a = std::max(from, r.arrival);
    const TimePoint b = std::min(to, r.finished);
    if (b > a) area += to_seconds(b - a);
  }
  return area / to_seconds(to - from);
}

double RunReport::completion_rate(TimePoint from, TimePoint to) const {
  const auto n = std::count_if(results.begin(), results.end(), [&](const RequestResult& r) {
    return r.finished >= from && r.finished < to;
  });
  return static_cast<double>(n) / to_seconds(to - from);
}

void VirtualTimeRunner::submit(const WorkloadItem& item, TimePoint now) {
  const std::size_t index = report_.results.size();
  report_.results.emplace_back();
  recorders_.push_back(std::make_unique<Recorder>(*this, index));
  EngineRequest req;
  req.prompt = Tokenizer::encode(item.prompt);
  req.output_tokens = item.output_tokens;
  req.lora = item.lora;
  req.seed = index;
  req.observer = recorders_.back().get();
  engine_.submit(std::move(req), now);
}

void VirtualTimeRunner::run(const std::function<std::optional<TimePoint>()>& next_arrival,
                            const std::function<void(TimePoint)>& submit_due) {
  TimePoint now{0};
  std::optional<TimePoint> step_end;
  submit_due(now);
  for (;;) {
    if (!step_end) {
      if (auto d = engine_.begin_step(now)) step_end = now + *d;
    }
    std::optional<TimePoint> wake = step_end;
    auto consider = [&](std::optional<TimePoint> t) {
      if (t && (!wake || *t < *wake)) wake = t;
    };
    consider(next_arrival());
    if (!step_end) consider(engine_.next_arrival());
    if (!wake) break;
    now = std::max(now, *wake);
    if (step_end && *step_end <= now) {
      step_end.reset();
      engine_.end_step(now);
    }
    submit_due(now);
  }
  report_.end = now;
}

RunReport VirtualTimeRunner::run_open_loop(const std::vector<WorkloadItem>& items) {
  report_ = {};
  recorders_.clear();
  finished_ = 0;
  on_finish_ = nullptr;
  report_.results.reserve(items.size());
  std::size_t next = 0;
  run(
      [&]() -> std::optional<TimePoint> {
        if (next >= items.size()) return std::nullopt;
        return items[next].arrival;
      },
      [&](TimePoint now) {
        while (next < items.size() && items[next].arrival <= now) submit(items[next++], now);
      });
  return std::move(report_);
}

RunReport VirtualTimeRunner::run_closed_loop(int concurrency, int total,
                                             const std::function<WorkloadItem()>& next) {
  report_ = {};
  recorders_.clear();
  finished_ = 0;
  report_.results.reserve(static_cast<std::size_t>(total));
  int submitted = 0;
  int due = concurrency;  // submissions owed to the closed loop
  on_finish_ = [&](TimePoint) { ++due; };
  run([]() -> std::optional<TimePoint> { return std::nullopt; },
      [&](TimePoint now) {
        for (; due > 0 && submitted < total; --due, ++submitted) submit(next(), now);
      });
  on_finish_ = nullptr;
  return std::move(report_);
}

}  // namespace infergate::sim

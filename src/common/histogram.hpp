// A Prometheus histogram updated lock-free from any thread: fixed bucket bounds (seconds),
// atomic counts, a nanosecond sum. metrics::PrometheusWriter writes it out (see read()).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

namespace infergate {

class AtomicHistogram {
 public:
  explicit AtomicHistogram(std::vector<double> bounds)
      : bounds_(std::move(bounds)),
        buckets_(std::make_unique<std::atomic<std::uint64_t>[]>(bounds_.size() + 1)) {}

  void observe(std::int64_t nanoseconds) {
    const double seconds = static_cast<double>(nanoseconds) * 1e-9;
    std::size_t i = 0;
    while (i < bounds_.size() && seconds > bounds_[i]) ++i;
    buckets_[i].fetch_add(1, std::memory_order_relaxed);
    count_.fetch_add(1, std::memory_order_relaxed);
    sum_ns_.fetch_add(static_cast<std::uint64_t>(nanoseconds > 0 ? nanoseconds : 0),
                      std::memory_order_relaxed);
  }

  std::uint64_t count() const { return count_.load(std::memory_order_relaxed); }

  const std::vector<double>& bounds() const { return bounds_; }

  struct Reading {
    std::vector<std::uint64_t> buckets;  // per bucket, not cumulative: bounds().size() + 1
    double sum_seconds = 0;
    std::uint64_t count = 0;
  };
  // The counts as they are now, for rendering (metrics::PrometheusWriter::histogram). Each
  // atomic is read on its own: a reading racing observe() may see an observation in some of
  // them only, which the next reading settles.
  Reading read() const {
    Reading r;
    r.buckets.reserve(bounds_.size() + 1);
    for (std::size_t i = 0; i <= bounds_.size(); ++i)
      r.buckets.push_back(buckets_[i].load(std::memory_order_relaxed));
    // Divided, not multiplied by 1e-9: the nearest double to the decimal number of seconds.
    r.sum_seconds = static_cast<double>(sum_ns_.load(std::memory_order_relaxed)) / 1e9;
    r.count = count();
    return r;
  }

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> buckets_;
  std::atomic<std::uint64_t> count_{0};
  std::atomic<std::uint64_t> sum_ns_{0};
};

}  // namespace infergate

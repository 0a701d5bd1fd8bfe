// Prometheus histograms updated lock-free from any thread: fixed bucket bounds, atomic counts.
// AtomicHistogram observes durations (a nanosecond sum, exact); AtomicValueHistogram observes
// plain numbers (ratios, sizes). metrics::PrometheusWriter writes a reading out; fold_onto()
// writes one with a subset of its bounds, so one histogram serves names with different buckets.
#pragma once

#include <algorithm>
#include <atomic>
#include <cassert>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

namespace infergate {

struct HistogramReading {
  std::vector<std::uint64_t> buckets;  // per bucket, not cumulative: bounds.size() + 1
  double sum = 0;
  std::uint64_t count = 0;
};

namespace detail {

// Bucket counts shared by both kinds: a value goes in the first bucket whose bound it does
// not exceed (Prometheus's `le`), or in the last one, above every bound. The count is the
// buckets' sum, read with them (one atomic add an observation fewer, and a reading's count
// always equals its buckets').
class HistogramBuckets {
 public:
  explicit HistogramBuckets(std::vector<double> bounds)
      : bounds_(std::move(bounds)),
        buckets_(std::make_unique<std::atomic<std::uint64_t>[]>(bounds_.size() + 1)) {}

  const std::vector<double>& bounds() const { return bounds_; }
  std::uint64_t count() const { return read_buckets().count; }

 protected:
  void add(double value) {
    std::size_t i = 0;
    while (i < bounds_.size() && value > bounds_[i]) ++i;
    buckets_[i].fetch_add(1, std::memory_order_relaxed);
  }
  // Each atomic is read on its own: a reading racing an observation may see it in some of them
  // only, which the next reading settles.
  HistogramReading read_buckets() const {
    HistogramReading r;
    r.buckets.reserve(bounds_.size() + 1);
    for (std::size_t i = 0; i <= bounds_.size(); ++i) {
      r.buckets.push_back(buckets_[i].load(std::memory_order_relaxed));
      r.count += r.buckets.back();
    }
    return r;
  }

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> buckets_;
};

}  // namespace detail

// Durations: bounds in seconds, observations in nanoseconds.
class AtomicHistogram : public detail::HistogramBuckets {
 public:
  using Reading = HistogramReading;
  explicit AtomicHistogram(std::vector<double> bounds) : HistogramBuckets(std::move(bounds)) {}

  void observe(std::int64_t nanoseconds) {
    add(static_cast<double>(nanoseconds) * 1e-9);
    sum_ns_.fetch_add(static_cast<std::uint64_t>(nanoseconds > 0 ? nanoseconds : 0),
                      std::memory_order_relaxed);
  }

  // The counts as they are now (sum in seconds).
  Reading read() const {
    Reading r = read_buckets();
    // Divided, not multiplied by 1e-9: the nearest double to the decimal number of seconds.
    r.sum = static_cast<double>(sum_ns_.load(std::memory_order_relaxed)) / 1e9;
    return r;
  }

 private:
  std::atomic<std::uint64_t> sum_ns_{0};
};

// Plain numbers: a hit ratio, a length in bytes.
class AtomicValueHistogram : public detail::HistogramBuckets {
 public:
  explicit AtomicValueHistogram(std::vector<double> bounds) : HistogramBuckets(std::move(bounds)) {}

  void observe(double value) {
    add(value);
    sum_.fetch_add(value, std::memory_order_relaxed);
  }

  HistogramReading read() const {
    HistogramReading r = read_buckets();
    r.sum = sum_.load(std::memory_order_relaxed);
    return r;
  }

 private:
  std::atomic<double> sum_{0};
};

// `reading`, taken with `bounds`, as a histogram with the bounds `subset` would have counted it.
// Every bound of `subset` must be one of `bounds` (then the cumulative counts are exact).
inline HistogramReading fold_onto(const HistogramReading& reading, std::span<const double> bounds,
                                  std::span<const double> subset) {
  assert(std::includes(bounds.begin(), bounds.end(), subset.begin(), subset.end()));
  HistogramReading out;
  out.sum = reading.sum;
  out.count = reading.count;
  out.buckets.assign(subset.size() + 1, 0);
  std::size_t to = 0;
  for (std::size_t i = 0; i < reading.buckets.size(); ++i) {
    // Bucket i holds values up to bounds[i]: it goes in the first subset bucket that reaches it.
    if (i < bounds.size())
      while (to < subset.size() && subset[to] < bounds[i]) ++to;
    else
      to = subset.size();
    out.buckets[to] += reading.buckets[i];
  }
  return out;
}

}  // namespace infergate

// A Prometheus histogram updated lock-free from any thread: fixed bucket bounds (seconds),
// atomic counts, a nanosecond sum.
#pragma once

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
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

  // Appends the _bucket, _sum and _count lines of `name{labels}`.
  void render(std::string& out, const std::string& name, const std::string& labels) const {
    const std::string sep = labels.empty() ? "" : ",";
    std::uint64_t cumulative = 0;
    char bound[32];
    for (std::size_t i = 0; i <= bounds_.size(); ++i) {
      cumulative += buckets_[i].load(std::memory_order_relaxed);
      if (i < bounds_.size()) std::snprintf(bound, sizeof bound, "%g", bounds_[i]);
      out += name + "_bucket{" + labels + sep + "le=\"" + (i < bounds_.size() ? bound : "+Inf") +
             "\"} " + std::to_string(cumulative) + "\n";
    }
    std::snprintf(bound, sizeof bound, "%.9f",
                  static_cast<double>(sum_ns_.load(std::memory_order_relaxed)) * 1e-9);
    const std::string braces = labels.empty() ? "" : "{" + labels + "}";
    out += name + "_sum" + braces + " " + bound + "\n";
    out += name + "_count" + braces + " " + std::to_string(count()) + "\n";
  }

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> buckets_;
  std::atomic<std::uint64_t> count_{0};
  std::atomic<std::uint64_t> sum_ns_{0};
};

}  // namespace infergate

// Writing the Prometheus text exposition format (version 0.0.4): the one writer that every
// /metrics page of the project goes through (the gateway's admin page, the simulator's pages).
//
// Contract: a PrometheusWriter appends to one std::string its caller owns. A family starts with
// its `# HELP` (text escaped: `\\`, `\n`) and `# TYPE` lines; samples follow as
// `name{label="value",...} number`, label values escaped (`\\`, `\"`, `\n`); a histogram writes
// cumulative `_bucket` lines (`le` the last label, up to `le="+Inf"`), `_sum` and `_count`. Numbers
// are the shortest text that reads back as the same double: fixed notation from 1e-4 to 1e16,
// scientific outside, `NaN`, `+Inf`, `-Inf`. Integral values are written "3" (as Go's client writes
// them) or "3.0" (as Python's prometheus_client does, which vLLM and SGLang use): NumberStyle.
// Metric and label names are the caller's constants; they are checked by assertions only.
//
// A label set is escaped once (LabelSet) and copied as text into every sample that carries it,
// so a sample line costs a few appends and one number conversion.
//
// Thread-safety: a writer and its string belong to one thread; LabelSet is a value.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>

#include "common/histogram.hpp"

namespace infergate::metrics {

enum class MetricType { kCounter, kGauge, kHistogram };

enum class NumberStyle {
  kGo,      // integral values as "3"
  kPython,  // integral values as "3.0"
};

struct Label {
  std::string_view name;
  std::string_view value;  // as is: the writer escapes it
};

// Label pairs, escaped once, in the order they were added.
class LabelSet {
 public:
  LabelSet() = default;
  LabelSet(std::initializer_list<Label> labels);

  LabelSet& add(std::string_view name, std::string_view value);
  // The pairs of `more` after these (a per-sample label first, then the shared ones).
  LabelSet& append(const LabelSet& more);
  // `a="x",b="y"`: the text between the braces.
  std::string_view text() const { return text_; }
  bool empty() const { return text_.empty(); }

 private:
  std::string text_;
};

// A sample value as the writer writes it (also for tests).
void append_number(std::string& out, double value, NumberStyle style = NumberStyle::kGo);

class PrometheusWriter {
 public:
  explicit PrometheusWriter(std::string& out, NumberStyle style = NumberStyle::kGo)
      : out_(out), style_(style) {}

  // `# HELP name help` and `# TYPE name type`.
  void family(std::string_view name, MetricType type, std::string_view help);

  void sample(std::string_view name, double value);
  void sample(std::string_view name, const LabelSet& labels, double value);

  // One histogram series: `counts` holds bounds.size() + 1 per-bucket (not cumulative) counts,
  // the last one of observations above every bound.
  void histogram(std::string_view name, const LabelSet& labels, std::span<const double> bounds,
                 std::span<const std::uint64_t> counts, double sum, std::uint64_t count);
  // A reading of an AtomicHistogram or AtomicValueHistogram taken with `bounds`.
  void histogram(std::string_view name, const LabelSet& labels, std::span<const double> bounds,
                 const HistogramReading& reading) {
    histogram(name, labels, bounds, reading.buckets, reading.sum, reading.count);
  }

 private:
  void append_labels(const LabelSet& labels);
  void end_line(double value);

  std::string& out_;
  NumberStyle style_;
};

}  // namespace infergate::metrics

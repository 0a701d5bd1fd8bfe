// Prometheus text exposition format (version 0.0.4), read from untrusted bytes.
//
// Contract: SampleScanner walks one page and yields the samples of the metric names its caller
// asked for, in page order. A scrape wants a handful of gauges out of pages that are mostly
// histogram buckets and families nobody reads, so line ends come from 64-byte newline masks, a
// line's first 16 (or 8) bytes go through a small hash filter of the wanted names, and every
// other line (comments, `_bucket`/`_sum`/`_count` lines, other families) is stepped over without
// looking at its labels or value: close to the cost of one memchr pass over the page.
// A wanted line is parsed strictly: labels `{a="x",b="y",}` with the escapes `\\`, `\"` and
// `\n`, blanks between tokens, a value (decimal, exponent, `NaN`, `+Inf`, `-Inf`), an optional
// integer timestamp in milliseconds. Anything else on a wanted line is an error that names the
// line; malformed lines of no interest are skipped. Lines end in "\n" or "\r\n"; the last line
// may lack its newline. The scanner never reads outside the page and never allocates.
//
// Thread-safety: a scanner belongs to one thread; the page and the wanted names must outlive it.
// The free functions are pure.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace infergate::metrics {

// A label value as written on the page, escapes included.
class LabelValue {
 public:
  LabelValue() = default;
  LabelValue(std::string_view raw, bool has_escapes) : raw_(raw), has_escapes_(has_escapes) {}

  std::string_view raw() const { return raw_; }
  bool has_escapes() const { return has_escapes_; }
  // Whether the unescaped value equals `text`.
  bool equals(std::string_view text) const;
  // Appends the unescaped value to `out`.
  void append_to(std::string& out) const;
  std::string unescaped() const;

 private:
  std::string_view raw_;
  bool has_escapes_ = false;
};

struct Sample {
  static constexpr std::size_t kNoIndex = static_cast<std::size_t>(-1);

  std::size_t metric = kNoIndex;  // index of the name in the wanted list (kNoIndex: every-metric)
  std::string_view name;
  std::string_view labels;  // the text between the braces, already checked; empty when none
  double value = 0;
  std::optional<std::int64_t> timestamp_ms;
  std::size_t line = 0;  // 1-based

  // The value of label `label_name`, or nullopt when the sample has no such label.
  std::optional<LabelValue> label(std::string_view label_name) const;
};

struct ParseError {
  std::size_t line = 0;     // 1-based
  std::string_view reason;  // static text
};

class SampleScanner {
 public:
  // Scans `page` for samples of `wanted` (valid, distinct metric names; a few, not hundreds).
  SampleScanner(std::string_view page, std::span<const std::string_view> wanted);
  // Scans `page` parsing every sample line and checking `# HELP`/`# TYPE` lines: a validator.
  static SampleScanner every_metric(std::string_view page) {
    SampleScanner s(page, {});
    s.every_metric_ = true;
    return s;
  }

  enum class Status { kSample, kEnd, kError };
  // Moves to the next wanted sample and fills `out`. After kEnd or kError it keeps answering
  // the same; error() holds the error.
  Status next(Sample& out);
  const ParseError& error() const { return error_; }

 private:
  std::size_t match_wanted(const char* begin, const char* end) const;
  std::size_t compare_wanted(const char* begin, std::size_t length) const;
  std::size_t next_line_end();
  bool load_next_block();
  Status parse_sample(const char* begin, const char* end, std::size_t name_length, Sample& out);
  bool check_comment(const char* begin, const char* end);
  Status fail(std::string_view reason);

  std::string_view page_;
  std::span<const std::string_view> wanted_;
  // A 256-bit filter over the first head_bytes_ (16 or 8, as long as the shortest wanted name
  // allows) bytes of the wanted names: most lines are ruled out by two multiplies and a bit
  // test. With a wanted name under 8 bytes (head_bytes_ 0), every line is compared in full.
  std::array<std::uint64_t, 4> head_filter_{};
  std::size_t head_bytes_ = 16;
  // Line ends are found 64 bytes at a time: one bit per '\n' not yet consumed in the block at
  // block_start_; lines are consumed in order, so the lowest bit is always the next line end.
  std::size_t block_start_ = 0;
  std::size_t next_block_ = 0;
  std::uint64_t newlines_ = 0;
  std::size_t pos_ = 0;
  std::size_t line_ = 0;
  bool every_metric_ = false;
  bool done_ = false;
  ParseError error_;
};

// Parses a sample value: a decimal number with optional sign and exponent, or NaN/Inf/Infinity
// in any case with an optional sign. nullopt for anything else, including out-of-range numbers.
std::optional<double> parse_sample_value(std::string_view text);

}  // namespace infergate::metrics

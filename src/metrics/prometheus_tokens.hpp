// Tokens of the Prometheus text format, shared by the scanner and the label accessors: character
// classes, blanks, label pairs and label sets, timestamps. Internal to src/metrics.
//
// Thread-safety: pure functions.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include "metrics/prometheus_text.hpp"

namespace infergate::metrics::detail {

// Character classes, looked up in one table: the label and value loops run on every byte of a
// wanted line.
enum CharClass : std::uint8_t {
  kBlank = 1,            // ' ', '\t'
  kLabelNameStart = 2,   // [a-zA-Z_]
  kLabelNameChar = 4,    // [a-zA-Z0-9_]
  kMetricNameStart = 8,  // [a-zA-Z_:]
  kMetricNameChar = 16,  // [a-zA-Z0-9_:]
  kLabelValueStop = 32,  // '"', '\\'
};

inline constexpr std::array<std::uint8_t, 256> kClass = [] {
  std::array<std::uint8_t, 256> t{};
  t[' '] = t['\t'] = kBlank;
  for (int c = 0; c < 256; ++c) {
    const bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    const bool digit = c >= '0' && c <= '9';
    if (letter) t[c] |= kLabelNameStart | kMetricNameStart;
    if (letter || digit) t[c] |= kLabelNameChar | kMetricNameChar;
  }
  t[':'] |= kMetricNameStart | kMetricNameChar;
  t['"'] = t['\\'] = kLabelValueStop;
  return t;
}();

constexpr bool has_class(char c, std::uint8_t cls) {
  return (kClass[static_cast<unsigned char>(c)] & cls) != 0;
}
constexpr bool is_blank(char c) { return has_class(c, kBlank); }
constexpr bool is_line_padding(char c) { return is_blank(c) || c == '\r'; }
constexpr bool is_digit(char c) { return c >= '0' && c <= '9'; }
constexpr bool is_label_name_start(char c) { return has_class(c, kLabelNameStart); }
constexpr bool is_label_name_char(char c) { return has_class(c, kLabelNameChar); }
constexpr bool is_metric_name_start(char c) { return has_class(c, kMetricNameStart); }
constexpr bool is_metric_name_char(char c) { return has_class(c, kMetricNameChar); }

inline const char* skip_blanks(const char* p, const char* end) {
  while (p != end && is_blank(*p)) ++p;
  return p;
}

inline const char* end_of_token(const char* p, const char* end) {
  while (p != end && !is_blank(*p)) ++p;
  return p;
}

inline const char* trim_line_end(const char* begin, const char* end) {
  while (end != begin && is_line_padding(end[-1])) --end;
  return end;
}

// Reads `name="value"` (blanks allowed around '=') starting at `p`, leaving `p` after the
// closing quote. Returns the reason when the text is not a label; empty when it is.
std::string_view read_label(const char*& p, const char* end, std::string_view& name,
                            LabelValue& value);

// Checks a label set; `p` starts after '{' and ends after '}', `labels_end` at the '}'.
std::string_view read_label_set(const char*& p, const char* end, const char*& labels_end);

// An integer timestamp in milliseconds, with an optional sign.
std::optional<std::int64_t> parse_timestamp(std::string_view text);

// A metric name at the start of [p, end) followed by the end or a blank; its length, or 0.
std::size_t metric_name_length(const char* p, const char* end);

}  // namespace infergate::metrics::detail

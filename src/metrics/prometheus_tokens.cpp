#include "metrics/prometheus_tokens.hpp"

#include <charconv>
#include <limits>
#include <string>

namespace infergate::metrics {
namespace detail {

std::string_view read_label(const char*& p, const char* end, std::string_view& name,
                            LabelValue& value) {
  if (p == end || !is_label_name_start(*p)) return "bad label name";
  const char* const name_begin = p;
  ++p;
  while (p != end && is_label_name_char(*p)) ++p;
  name = std::string_view(name_begin, static_cast<std::size_t>(p - name_begin));
  p = skip_blanks(p, end);
  if (p == end || *p != '=') return "expected '=' after a label name";
  p = skip_blanks(p + 1, end);
  if (p == end || *p != '"') return "label value must be quoted";
  ++p;
  const char* const value_begin = p;
  bool escapes = false;
  for (;;) {
    while (p != end && !has_class(*p, kLabelValueStop)) ++p;
    if (p == end) return "unterminated label value";
    if (*p == '"') break;
    ++p;  // past the backslash
    if (p == end) return "unterminated label value";
    if (*p != '\\' && *p != '"' && *p != 'n') return "bad escape in label value";
    escapes = true;
    ++p;
  }
  value =
      LabelValue(std::string_view(value_begin, static_cast<std::size_t>(p - value_begin)), escapes);
  ++p;
  return {};
}

std::string_view read_label_set(const char*& p, const char* end, const char*& labels_end) {
  std::string_view name;
  LabelValue value;
  for (;;) {
    p = skip_blanks(p, end);
    if (p == end) return "unterminated label set";
    if (*p == '}') break;
    if (const auto reason = read_label(p, end, name, value); !reason.empty()) return reason;
    p = skip_blanks(p, end);
    if (p == end) return "unterminated label set";
    if (*p == ',') {
      ++p;
    } else if (*p != '}') {
      return "expected ',' or '}' after a label";
    }
  }
  labels_end = p;
  ++p;
  return {};
}

std::optional<std::int64_t> parse_timestamp(std::string_view text) {
  if (!text.empty() && text.front() == '+') {
    text.remove_prefix(1);
    if (text.empty() || !is_digit(text.front())) return std::nullopt;
  }
  std::int64_t v = 0;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc{} || ptr != text.data() + text.size()) return std::nullopt;
  return v;
}

std::size_t metric_name_length(const char* p, const char* end) {
  if (p == end || !is_metric_name_start(*p)) return 0;
  const char* q = p + 1;
  while (q != end && is_metric_name_char(*q)) ++q;
  return q == end || is_blank(*q) ? static_cast<std::size_t>(q - p) : 0;
}

}  // namespace detail

namespace {

using detail::is_digit;

// "123" or "123.45" with at most 15 digits: the digits fit a double exactly, and so does the
// power of ten, so one division rounds correctly (exponent forms go to from_chars).
std::optional<double> parse_simple_decimal(std::string_view text) {
  constexpr std::size_t kMaxDigits = 15;
  constexpr double kPowersOfTen[kMaxDigits + 1] = {1e0, 1e1, 1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                                   1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15};
  std::uint64_t digits = 0;
  std::size_t count = 0;
  std::size_t fraction = 0;
  std::size_t i = 0;
  for (; i < text.size() && is_digit(text[i]); ++i) {
    if (++count > kMaxDigits) return std::nullopt;
    digits = digits * 10 + static_cast<std::uint64_t>(text[i] - '0');
  }
  if (count == 0) return std::nullopt;
  if (i < text.size() && text[i] == '.') {
    for (++i; i < text.size() && is_digit(text[i]); ++i, ++fraction) {
      if (++count > kMaxDigits) return std::nullopt;
      digits = digits * 10 + static_cast<std::uint64_t>(text[i] - '0');
    }
  }
  if (i != text.size()) return std::nullopt;
  return static_cast<double>(digits) / kPowersOfTen[fraction];
}

bool equals_ignoring_case(std::string_view text, std::string_view lower) {
  if (text.size() != lower.size()) return false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != lower[i]) return false;
  }
  return true;
}

}  // namespace

std::optional<double> parse_sample_value(std::string_view text) {
  if (text.empty()) return std::nullopt;
  const bool negative = text.front() == '-';
  if (negative || text.front() == '+') text.remove_prefix(1);
  if (text.empty()) return std::nullopt;
  if (is_digit(text.front()) || text.front() == '.') {
    if (const auto simple = parse_simple_decimal(text)) return negative ? -*simple : *simple;
    double v = 0;
    const char* const end = text.data() + text.size();
    const auto [ptr, ec] = std::from_chars(text.data(), end, v, std::chars_format::general);
    if (ec != std::errc{} || ptr != end) return std::nullopt;
    return negative ? -v : v;
  }
  if (equals_ignoring_case(text, "nan")) return std::numeric_limits<double>::quiet_NaN();
  if (equals_ignoring_case(text, "inf") || equals_ignoring_case(text, "infinity")) {
    return negative ? -std::numeric_limits<double>::infinity()
                    : std::numeric_limits<double>::infinity();
  }
  return std::nullopt;
}

bool LabelValue::equals(std::string_view text) const {
  if (!has_escapes_) return raw_ == text;
  std::size_t j = 0;
  for (std::size_t i = 0; i < raw_.size(); ++i, ++j) {
    char c = raw_[i];
    if (c == '\\' && i + 1 < raw_.size()) {
      c = raw_[++i];
      if (c == 'n') c = '\n';
    }
    if (j == text.size() || text[j] != c) return false;
  }
  return j == text.size();
}

void LabelValue::append_to(std::string& out) const {
  if (!has_escapes_) {
    out += raw_;
    return;
  }
  for (std::size_t i = 0; i < raw_.size(); ++i) {
    char c = raw_[i];
    if (c == '\\' && i + 1 < raw_.size()) {
      c = raw_[++i];
      if (c == 'n') c = '\n';
    }
    out.push_back(c);
  }
}

std::string LabelValue::unescaped() const {
  std::string out;
  append_to(out);
  return out;
}

std::optional<LabelValue> Sample::label(std::string_view label_name) const {
  using detail::read_label;
  using detail::skip_blanks;
  const char* p = labels.data();
  const char* const end = p + labels.size();
  std::string_view found_name;
  LabelValue found_value;
  for (;;) {
    p = skip_blanks(p, end);
    if (p == end) return std::nullopt;
    // `labels` was checked when the sample was read; a failure here means it was not.
    if (!read_label(p, end, found_name, found_value).empty()) return std::nullopt;
    if (found_name == label_name) return found_value;
    p = skip_blanks(p, end);
    if (p != end && *p == ',') ++p;
  }
}

}  // namespace infergate::metrics

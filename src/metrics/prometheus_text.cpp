#include "metrics/prometheus_text.hpp"

#include <array>
#include <charconv>
#include <cstring>
#include <limits>

namespace infergate::metrics {
namespace {

constexpr bool is_blank(char c) { return c == ' ' || c == '\t'; }
constexpr bool is_line_padding(char c) { return is_blank(c) || c == '\r'; }
constexpr bool is_digit(char c) { return c >= '0' && c <= '9'; }
constexpr bool is_letter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
constexpr bool is_label_name_start(char c) { return is_letter(c) || c == '_'; }
constexpr bool is_label_name_char(char c) { return is_label_name_start(c) || is_digit(c); }
constexpr bool is_metric_name_start(char c) { return is_label_name_start(c) || c == ':'; }
constexpr bool is_metric_name_char(char c) { return is_label_name_char(c) || c == ':'; }

// Bytes that may follow a metric name: the label set, a blank before the value, or the "\r" of
// a line that (wrongly) ends right after the name.
constexpr std::array<bool, 256> kAfterName = [] {
  std::array<bool, 256> t{};
  t['{'] = t[' '] = t['\t'] = t['\r'] = true;
  return t;
}();

const char* skip_blanks(const char* p, const char* end) {
  while (p != end && is_blank(*p)) ++p;
  return p;
}

const char* end_of_token(const char* p, const char* end) {
  while (p != end && !is_blank(*p)) ++p;
  return p;
}

const char* trim_line_end(const char* begin, const char* end) {
  while (end != begin && is_line_padding(end[-1])) --end;
  return end;
}

// Reads `name="value"` (blanks allowed around '=') starting at `p`, leaving `p` after the
// closing quote. Returns the reason when the text is not a label; empty when it is.
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
    if (p == end) return "unterminated label value";
    if (*p == '"') break;
    if (*p == '\\') {
      ++p;
      if (p == end) return "unterminated label value";
      if (*p != '\\' && *p != '"' && *p != 'n') return "bad escape in label value";
      escapes = true;
    }
    ++p;
  }
  value = LabelValue(std::string_view(value_begin, static_cast<std::size_t>(p - value_begin)),
                     escapes);
  ++p;
  return {};
}

// Checks a label set; `p` starts after '{' and ends after '}', `labels_end` at the '}'.
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

bool equals_ignoring_case(std::string_view text, std::string_view lower) {
  if (text.size() != lower.size()) return false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != lower[i]) return false;
  }
  return true;
}

// A metric name at the start of [p, end) followed by the end or a blank; its length, or 0.
std::size_t metric_name_length(const char* p, const char* end) {
  if (p == end || !is_metric_name_start(*p)) return 0;
  const char* q = p + 1;
  while (q != end && is_metric_name_char(*q)) ++q;
  return q == end || is_blank(*q) ? static_cast<std::size_t>(q - p) : 0;
}

}  // namespace

std::optional<double> parse_sample_value(std::string_view text) {
  if (text.empty()) return std::nullopt;
  const bool negative = text.front() == '-';
  if (negative || text.front() == '+') text.remove_prefix(1);
  if (text.empty()) return std::nullopt;
  if (is_digit(text.front()) || text.front() == '.') {
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

SampleScanner::Status SampleScanner::fail(std::string_view reason) {
  error_ = ParseError{line_, reason};
  done_ = true;
  return Status::kError;
}

std::size_t SampleScanner::match_wanted(const char* begin, const char* end) const {
  const auto length = static_cast<std::size_t>(end - begin);
  for (std::size_t i = 0; i < wanted_.size(); ++i) {
    const std::string_view name = wanted_[i];
    // The byte after the name rules out nearly every line before any comparison.
    if (length < name.size()) continue;
    if (length > name.size() && !kAfterName[static_cast<unsigned char>(begin[name.size()])]) {
      continue;
    }
    if (std::memcmp(begin, name.data(), name.size()) == 0) return i;
  }
  return Sample::kNoIndex;
}

SampleScanner::Status SampleScanner::next(Sample& out) {
  if (done_) return error_.reason.empty() ? Status::kEnd : Status::kError;
  const char* const page_begin = page_.data();
  const char* const page_end = page_begin + page_.size();
  while (pos_ < page_.size()) {
    const char* begin = page_begin + pos_;
    const auto* newline =
        static_cast<const char*>(std::memchr(begin, '\n', static_cast<std::size_t>(page_end - begin)));
    const char* end = newline != nullptr ? newline : page_end;
    pos_ = static_cast<std::size_t>(end - page_begin) + (newline != nullptr ? 1 : 0);
    ++line_;
    if (begin != end && is_blank(*begin)) begin = skip_blanks(begin, end);
    if (begin == end) continue;
    if (*begin == '#') {
      if (every_metric_ && !check_comment(begin + 1, trim_line_end(begin, end))) {
        return Status::kError;
      }
      continue;
    }
    if (every_metric_) {
      end = trim_line_end(begin, end);
      if (begin == end) continue;
      const char* name_end = begin;
      while (name_end != end && is_metric_name_char(*name_end)) ++name_end;
      if (name_end == begin || !is_metric_name_start(*begin) ||
          (name_end != end && *name_end != '{' && !is_blank(*name_end))) {
        return fail("bad metric name");
      }
      return parse_sample(begin, end, static_cast<std::size_t>(name_end - begin), out);
    }
    const std::size_t index = match_wanted(begin, end);
    if (index == Sample::kNoIndex) continue;
    const Status status = parse_sample(begin, end, wanted_[index].size(), out);
    out.metric = index;
    return status;
  }
  done_ = true;
  return Status::kEnd;
}

SampleScanner::Status SampleScanner::parse_sample(const char* begin, const char* end,
                                                  std::size_t name_length, Sample& out) {
  end = trim_line_end(begin, end);
  out.metric = Sample::kNoIndex;
  out.name = std::string_view(begin, name_length);
  out.labels = {};
  out.line = line_;
  const char* p = skip_blanks(begin + name_length, end);
  if (p != end && *p == '{') {
    ++p;
    const char* const labels_begin = p;
    const char* labels_end = p;
    if (const auto reason = read_label_set(p, end, labels_end); !reason.empty()) {
      return fail(reason);
    }
    out.labels = std::string_view(labels_begin, static_cast<std::size_t>(labels_end - labels_begin));
    p = skip_blanks(p, end);
  }
  const char* const value_begin = p;
  p = end_of_token(p, end);
  if (p == value_begin) return fail("missing value");
  const auto value =
      parse_sample_value(std::string_view(value_begin, static_cast<std::size_t>(p - value_begin)));
  if (!value) return fail("bad value");
  out.value = *value;
  out.timestamp_ms.reset();
  p = skip_blanks(p, end);
  if (p != end) {
    const char* const stamp_begin = p;
    p = end_of_token(p, end);
    out.timestamp_ms =
        parse_timestamp(std::string_view(stamp_begin, static_cast<std::size_t>(p - stamp_begin)));
    if (!out.timestamp_ms) return fail("bad timestamp");
    if (skip_blanks(p, end) != end) return fail("unexpected text after the timestamp");
  }
  return Status::kSample;
}

// `# HELP name text` and `# TYPE name type` must name a metric; other comments are free text.
bool SampleScanner::check_comment(const char* p, const char* end) {
  p = skip_blanks(p, end);
  const char* const keyword_end = end_of_token(p, end);
  const std::string_view keyword(p, static_cast<std::size_t>(keyword_end - p));
  if (keyword != "HELP" && keyword != "TYPE") return true;
  p = skip_blanks(keyword_end, end);
  const std::size_t name_length = metric_name_length(p, end);
  if (name_length == 0) {
    fail("bad metric name in a HELP or TYPE line");
    return false;
  }
  if (keyword == "HELP") return true;
  p = skip_blanks(p + name_length, end);
  const std::string_view type(p, static_cast<std::size_t>(end_of_token(p, end) - p));
  if (type != "counter" && type != "gauge" && type != "histogram" && type != "summary" &&
      type != "untyped") {
    fail("unknown metric type");
    return false;
  }
  if (skip_blanks(p + type.size(), end) != end) {
    fail("unexpected text after the metric type");
    return false;
  }
  return true;
}

}  // namespace infergate::metrics

#include "metrics/prometheus_text.hpp"

#include <array>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "metrics/prometheus_tokens.hpp"

namespace infergate::metrics {
namespace {

using detail::end_of_token;
using detail::is_blank;
using detail::is_metric_name_char;
using detail::is_metric_name_start;
using detail::metric_name_length;
using detail::parse_timestamp;
using detail::read_label_set;
using detail::skip_blanks;
using detail::trim_line_end;

// Bytes that may follow a metric name: the label set, a blank before the value, or the "\r" of
// a line that (wrongly) ends right after the name.
constexpr std::array<bool, 256> kAfterName = [] {
  std::array<bool, 256> t{};
  t['{'] = t[' '] = t['\t'] = t['\r'] = true;
  return t;
}();

}  // namespace

SampleScanner::Status SampleScanner::fail(std::string_view reason) {
  error_ = ParseError{line_, reason};
  done_ = true;
  return Status::kError;
}

namespace {

constexpr std::size_t kBlock = 64;

// The filter slot of the first `head_bytes` (8 or 16) bytes at `p`.
std::size_t head_slot(const char* p, std::size_t head_bytes) {
  std::uint64_t first = 0;
  std::uint64_t second = 0;
  std::memcpy(&first, p, sizeof first);
  if (head_bytes == 16) std::memcpy(&second, p + 8, sizeof second);
  return static_cast<std::size_t>(
      ((first * 0x9E3779B97F4A7C15ull) ^ (second * 0xC2B2AE3D27D4EB4Full)) >> 56);
}

// One bit per '\n' among the 64 bytes at `p`.
std::uint64_t newline_bits(const char* p) {
#if defined(__SSE2__)
  const __m128i newline = _mm_set1_epi8('\n');
  const auto bits16 = [&](int i) {
    const __m128i chunk =
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + std::ptrdiff_t{16} * i));
    return static_cast<std::uint64_t>(
        static_cast<unsigned>(_mm_movemask_epi8(_mm_cmpeq_epi8(chunk, newline))));
  };
  return bits16(0) | bits16(1) << 16 | bits16(2) << 32 | bits16(3) << 48;
#else
  std::uint64_t bits = 0;
  for (std::size_t i = 0; i < kBlock; ++i) bits |= std::uint64_t{p[i] == '\n'} << i;
  return bits;
#endif
}

// Whether the line starts with `name` followed by what may follow a metric name.
bool starts_with_name(const char* begin, std::size_t length, std::string_view name) {
  if (length < name.size()) return false;
  if (length > name.size() && !kAfterName[static_cast<unsigned char>(begin[name.size()])]) {
    return false;
  }
  return std::memcmp(begin, name.data(), name.size()) == 0;
}

}  // namespace

SampleScanner::SampleScanner(std::string_view page, std::span<const std::string_view> wanted)
    : page_(page), wanted_(wanted) {
  for (const std::string_view name : wanted_) {
    if (name.size() < head_bytes_) head_bytes_ = name.size() >= 8 ? 8 : 0;
  }
  if (head_bytes_ == 0) return;
  for (const std::string_view name : wanted_) {
    const std::size_t slot = head_slot(name.data(), head_bytes_);
    head_filter_[slot / 64] |= std::uint64_t{1} << (slot % 64);
  }
}

bool SampleScanner::load_next_block() {
  const std::size_t size = page_.size();
  if (next_block_ >= size) return false;
  block_start_ = next_block_;
  next_block_ += kBlock;
  if (size - block_start_ >= kBlock) {
    newlines_ = newline_bits(page_.data() + block_start_);
  } else {  // the last, partial block
    for (std::size_t i = block_start_; i < size; ++i) {
      newlines_ |= std::uint64_t{page_[i] == '\n'} << (i - block_start_);
    }
  }
  return true;
}

// The offset of the '\n' that ends the current line, or the page's size when there is none.
[[gnu::always_inline]] inline std::size_t SampleScanner::next_line_end() {
  while (newlines_ == 0) {
    if (!load_next_block()) return page_.size();
  }
  const std::size_t end = block_start_ + static_cast<std::size_t>(__builtin_ctzll(newlines_));
  newlines_ &= newlines_ - 1;
  return end;
}

// Most lines fail the filter; only those that pass are compared with the names.
[[gnu::always_inline]] inline std::size_t SampleScanner::match_wanted(const char* begin,
                                                                      const char* end) const {
  const auto length = static_cast<std::size_t>(end - begin);
  if (head_bytes_ != 0) {
    if (length < head_bytes_) return Sample::kNoIndex;  // shorter than every wanted name
    const std::size_t slot = head_slot(begin, head_bytes_);
    if (((head_filter_[slot / 64] >> (slot % 64)) & 1) == 0) return Sample::kNoIndex;
  }
  return compare_wanted(begin, length);
}

std::size_t SampleScanner::compare_wanted(const char* begin, std::size_t length) const {
  for (std::size_t i = 0; i < wanted_.size(); ++i) {
    if (starts_with_name(begin, length, wanted_[i])) return i;
  }
  return Sample::kNoIndex;
}

SampleScanner::Status SampleScanner::next(Sample& out) {
  if (done_) return error_.reason.empty() ? Status::kEnd : Status::kError;
  const char* const page_begin = page_.data();
  while (pos_ < page_.size()) {
    const char* begin = page_begin + pos_;
    const std::size_t line_end = next_line_end();
    const char* end = page_begin + line_end;
    pos_ = line_end + 1;  // past the page's size after a last line without '\n'
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
    out.labels =
        std::string_view(labels_begin, static_cast<std::size_t>(labels_end - labels_begin));
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

#include "metrics/prometheus_text.hpp"

#include <gtest/gtest.h>

#include <charconv>
#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

namespace infergate::metrics {
namespace {

struct Read {
  std::size_t metric;
  std::string name;
  std::string labels;
  double value;
  std::optional<std::int64_t> timestamp_ms;
  std::size_t line;
};

struct ScanResult {
  std::vector<Read> samples;
  std::optional<ParseError> error;
};

ScanResult scan(std::string_view page, std::span<const std::string_view> wanted) {
  SampleScanner scanner(page, wanted);
  ScanResult result;
  Sample s;
  for (;;) {
    const auto status = scanner.next(s);
    if (status == SampleScanner::Status::kEnd) break;
    if (status == SampleScanner::Status::kError) {
      result.error = scanner.error();
      // Errors are sticky.
      EXPECT_EQ(scanner.next(s), SampleScanner::Status::kError);
      break;
    }
    result.samples.push_back(Read{s.metric, std::string(s.name), std::string(s.labels), s.value,
                                  s.timestamp_ms, s.line});
  }
  return result;
}

ScanResult scan_one(std::string_view page, std::string_view name) {
  const std::string_view wanted[] = {name};
  return scan(page, wanted);
}

TEST(PrometheusText, YieldsOnlyWantedSamplesInPageOrder) {
  const std::string page =
      "# HELP vllm:num_requests_running Number of requests.\n"
      "# TYPE vllm:num_requests_running gauge\n"
      "vllm:num_requests_running{model_name=\"a\"} 3.0\n"
      "\n"
      "# a free comment vllm:num_requests_waiting 9\n"
      "other_metric 5\n"
      "vllm:num_requests_waiting{model_name=\"a\"} 4\n"
      "vllm:num_requests_running{model_name=\"b\"} 1e1\n";
  const std::string_view wanted[] = {"vllm:num_requests_waiting", "vllm:num_requests_running"};
  const auto r = scan(page, wanted);
  ASSERT_FALSE(r.error);
  ASSERT_EQ(r.samples.size(), 3u);
  EXPECT_EQ(r.samples[0].metric, 1u);
  EXPECT_EQ(r.samples[0].name, "vllm:num_requests_running");
  EXPECT_EQ(r.samples[0].labels, "model_name=\"a\"");
  EXPECT_EQ(r.samples[0].value, 3.0);
  EXPECT_EQ(r.samples[0].line, 3u);
  EXPECT_EQ(r.samples[1].metric, 0u);
  EXPECT_EQ(r.samples[1].value, 4.0);
  EXPECT_EQ(r.samples[1].line, 7u);
  EXPECT_EQ(r.samples[2].value, 10.0);
}

TEST(PrometheusText, NamesThatOnlyStartWithAWantedNameAreSkipped) {
  const std::string page =
      "# TYPE h histogram\n"
      "h_bucket{le=\"0.5\"} 1\n"
      "h_bucket{le=\"+Inf\"} 2\n"
      "h_sum 0.7\n"
      "h_count 2\n"
      "hh 4\n"
      "h:x 4\n"
      "h 9\n";
  const auto r = scan_one(page, "h");
  ASSERT_FALSE(r.error);
  ASSERT_EQ(r.samples.size(), 1u);
  EXPECT_EQ(r.samples[0].value, 9);
}

TEST(PrometheusText, MalformedLinesOfNoInterestAreSkipped) {
  const std::string page =
      "garbage{{{ \"\\q\n"
      "other{a=\"unterminated 1\n"
      "other{a=\"x\"} not-a-number\n"
      "\x01\x02\xff\n"
      "m 1\n";
  const auto r = scan_one(page, "m");
  ASSERT_FALSE(r.error);
  ASSERT_EQ(r.samples.size(), 1u);
  EXPECT_EQ(r.samples[0].line, 5u);
}

TEST(PrometheusText, LabelsWithEscapesTrailingCommaAndBlanks) {
  const std::string page =
      "m{a=\"x\\\\y\",b=\"say \\\"hi\\\"\",c=\"two\\nlines\",} 1\n"
      "m{} 2\n"
      "m { a = \"spaced\" , b=\"\" , } 3\n"
      "m{a=\"{},=\"} 4\n";
  const std::string_view wanted[] = {"m"};
  SampleScanner scanner(page, wanted);
  Sample s;
  ASSERT_EQ(scanner.next(s), SampleScanner::Status::kSample);
  ASSERT_TRUE(s.label("a"));
  EXPECT_EQ(s.label("a")->raw(), "x\\\\y");
  EXPECT_TRUE(s.label("a")->has_escapes());
  EXPECT_EQ(s.label("a")->unescaped(), "x\\y");
  EXPECT_TRUE(s.label("a")->equals("x\\y"));
  EXPECT_FALSE(s.label("a")->equals("x\\\\y"));
  EXPECT_EQ(s.label("b")->unescaped(), "say \"hi\"");
  EXPECT_EQ(s.label("c")->unescaped(), "two\nlines");
  EXPECT_TRUE(s.label("c")->equals("two\nlines"));
  EXPECT_FALSE(s.label("c")->equals("two\nline"));
  EXPECT_FALSE(s.label("d"));

  ASSERT_EQ(scanner.next(s), SampleScanner::Status::kSample);
  EXPECT_EQ(s.labels, "");
  EXPECT_FALSE(s.label("a"));
  EXPECT_EQ(s.value, 2);

  ASSERT_EQ(scanner.next(s), SampleScanner::Status::kSample);
  EXPECT_TRUE(s.label("a")->equals("spaced"));
  EXPECT_FALSE(s.label("a")->has_escapes());
  ASSERT_TRUE(s.label("b"));
  EXPECT_TRUE(s.label("b")->equals(""));
  EXPECT_EQ(s.value, 3);

  ASSERT_EQ(scanner.next(s), SampleScanner::Status::kSample);
  EXPECT_EQ(s.label("a")->raw(), "{},=");
  EXPECT_EQ(scanner.next(s), SampleScanner::Status::kEnd);
  EXPECT_EQ(scanner.next(s), SampleScanner::Status::kEnd);
}

TEST(PrometheusText, ValuesAndTimestamps) {
  const std::string page =
      "m NaN\n"
      "m +Inf\n"
      "m -Inf\n"
      "m 1.5e3\n"
      "m -2.5E-2 1700000000000\n"
      "m .5\n"
      "m 7 -12\n"
      "m\t8\t\t+15 \n"
      "m 1.7382173358407154e+09\n";
  const auto r = scan_one(page, "m");
  ASSERT_FALSE(r.error) << r.error->reason;
  ASSERT_EQ(r.samples.size(), 9u);
  EXPECT_TRUE(std::isnan(r.samples[0].value));
  EXPECT_EQ(r.samples[1].value, std::numeric_limits<double>::infinity());
  EXPECT_EQ(r.samples[2].value, -std::numeric_limits<double>::infinity());
  EXPECT_EQ(r.samples[3].value, 1500);
  EXPECT_FALSE(r.samples[3].timestamp_ms);
  EXPECT_EQ(r.samples[4].value, -0.025);
  EXPECT_EQ(r.samples[4].timestamp_ms, 1700000000000);
  EXPECT_EQ(r.samples[5].value, 0.5);
  EXPECT_EQ(r.samples[6].timestamp_ms, -12);
  EXPECT_EQ(r.samples[7].value, 8);
  EXPECT_EQ(r.samples[7].timestamp_ms, 15);
  EXPECT_EQ(r.samples[8].value, 1738217335.8407154);
}

TEST(PrometheusText, CrLfLeadingBlanksAndNoFinalNewline) {
  const std::string page = "# TYPE m gauge\r\n\r\n  m{a=\"x\"} 1\r\nm 2 \r\n\tm 3";
  const auto r = scan_one(page, "m");
  ASSERT_FALSE(r.error);
  ASSERT_EQ(r.samples.size(), 3u);
  EXPECT_EQ(r.samples[0].labels, "a=\"x\"");
  EXPECT_EQ(r.samples[0].line, 3u);
  EXPECT_EQ(r.samples[1].value, 2);
  EXPECT_EQ(r.samples[2].value, 3);
  EXPECT_EQ(r.samples[2].line, 5u);
}

// Line ends are found 64 bytes at a time: lines of every length, across block boundaries.
TEST(PrometheusText, LineEndsAtEveryOffset) {
  const std::string_view wanted[] = {"wanted_metric_name_long", "mid_name", "m"};
  for (std::size_t filler = 0; filler < 140; ++filler) {
    const std::string page = std::string(filler, 'x') + "\nwanted_metric_name_long 1\n" +
                             std::string(filler * 2, 'y') + "\nm 2\n\nmid_name{a=\"" +
                             std::string(filler, 'z') + "\"} 3";
    const auto r = scan(page, wanted);
    ASSERT_FALSE(r.error) << filler;
    ASSERT_EQ(r.samples.size(), 3u) << filler;
    EXPECT_EQ(r.samples[0].line, 2u);
    EXPECT_EQ(r.samples[0].value, 1);
    EXPECT_EQ(r.samples[1].line, 4u);
    EXPECT_EQ(r.samples[1].value, 2);
    EXPECT_EQ(r.samples[2].line, 6u);
    EXPECT_EQ(r.samples[2].metric, 1u);
    EXPECT_EQ(r.samples[2].labels.size(), filler + 4);
  }
}

// Names of 16 bytes or more, of 8 to 15, and shorter take different filters.
TEST(PrometheusText, WantedNamesOfEveryLength) {
  const std::string page =
      "vllm:num_requests_swapped 9\n"
      "vllm:num_requests_waiting 1\n"
      "abcdefgh 9\nabcdefghi 2\n"
      "ab 3\nabc 9\n";
  const std::string_view long_names[] = {"vllm:num_requests_waiting"};
  const std::string_view mid_names[] = {"vllm:num_requests_waiting", "abcdefghi"};
  const std::string_view short_names[] = {"vllm:num_requests_waiting", "abcdefghi", "ab"};
  EXPECT_EQ(scan(page, long_names).samples.size(), 1u);
  const auto mid = scan(page, mid_names);
  ASSERT_EQ(mid.samples.size(), 2u);
  EXPECT_EQ(mid.samples[1].value, 2);
  const auto all = scan(page, short_names);
  ASSERT_EQ(all.samples.size(), 3u);
  EXPECT_EQ(all.samples[2].value, 3);
  EXPECT_EQ(all.samples[2].metric, 2u);
}

TEST(PrometheusText, EmptyPageAndNoWantedNames) {
  EXPECT_TRUE(scan_one("", "m").samples.empty());
  EXPECT_TRUE(scan_one("\n\n\n", "m").samples.empty());
  const auto r = scan("m 1\n", {});
  EXPECT_FALSE(r.error);
  EXPECT_TRUE(r.samples.empty());
}

TEST(PrometheusText, ParseSampleValue) {
  EXPECT_EQ(parse_sample_value("0"), 0.0);
  EXPECT_EQ(parse_sample_value("-0.0"), 0.0);
  EXPECT_EQ(parse_sample_value("+3"), 3.0);
  EXPECT_EQ(parse_sample_value("5."), 5.0);
  EXPECT_EQ(parse_sample_value("1e-3"), 0.001);
  EXPECT_EQ(parse_sample_value("0.4875"), 0.4875);
  EXPECT_EQ(parse_sample_value("7281.0"), 7281.0);
  EXPECT_EQ(parse_sample_value("0.1"), 0.1);
  EXPECT_EQ(parse_sample_value("123456789012345"), 123456789012345.0);
  EXPECT_EQ(parse_sample_value("1234567890123456789"), 1234567890123456789.0);
  EXPECT_EQ(parse_sample_value("0.30000000000000004"), 0.30000000000000004);
  EXPECT_EQ(parse_sample_value("10.950000000000001"), 10.950000000000001);
  EXPECT_EQ(parse_sample_value("inf"), std::numeric_limits<double>::infinity());
  EXPECT_EQ(parse_sample_value("-Infinity"), -std::numeric_limits<double>::infinity());
  EXPECT_TRUE(std::isnan(*parse_sample_value("nan")));
  for (const char* bad :
       {"",    "+",   "-",   ".",   "e5",   "1.2.3",   "1e",    "1e+", "0x10", "--1",
        "+-1", "-+1", "1,5", "abc", "Nope", "infinit", "1e999", " 1",  "1 ",   "NaN1"}) {
    EXPECT_FALSE(parse_sample_value(bad)) << bad;
  }
}

// Short decimals take a fast path; it must round exactly as a full conversion does.
TEST(PrometheusText, ShortDecimalsMatchFullConversion) {
  std::mt19937_64 rng(7);
  for (int i = 0; i < 200000; ++i) {
    const int digits = 1 + static_cast<int>(rng() % 17);
    std::string text;
    for (int d = 0; d < digits; ++d) text.push_back(static_cast<char>('0' + rng() % 10));
    const auto dot = rng() % (static_cast<unsigned>(digits) + 2);
    if (dot < static_cast<unsigned>(digits)) text.insert(dot, ".");
    double expected = 0;
    std::from_chars(text.data(), text.data() + text.size(), expected);
    ASSERT_EQ(parse_sample_value(text), expected) << text;
  }
}

struct Malformed {
  const char* name;
  std::string line;
  std::string_view reason;
};

class MalformedWantedLine : public ::testing::TestWithParam<Malformed> {};

TEST_P(MalformedWantedLine, IsAnErrorWithItsLineNumber) {
  const std::string page = "# TYPE m gauge\nm 1\nother{ 2\n" + GetParam().line + "\nm 5\n";
  const auto r = scan_one(page, "m");
  ASSERT_TRUE(r.error) << GetParam().name;
  EXPECT_EQ(r.error->line, 4u);
  EXPECT_EQ(r.error->reason, GetParam().reason);
  EXPECT_EQ(r.samples.size(), 1u);
}

const std::string kHuge(1 << 20, 'x');

INSTANTIATE_TEST_SUITE_P(
    Table, MalformedWantedLine,
    ::testing::Values(
        Malformed{"unterminated_label_set", "m{a=\"x\"", "unterminated label set"},
        Malformed{"unterminated_after_comma", "m{a=\"x\", ", "unterminated label set"},
        Malformed{"open_brace_only", "m{", "unterminated label set"},
        Malformed{"unterminated_value", "m{a=\"x} 1", "unterminated label value"},
        Malformed{"backslash_at_end", "m{a=\"x\\", "unterminated label value"},
        Malformed{"bad_escape", "m{a=\"x\\q\"} 1", "bad escape in label value"},
        Malformed{"bad_escape_tab", "m{a=\"\\t\"} 1", "bad escape in label value"},
        Malformed{"unquoted_value", "m{a=x} 1", "label value must be quoted"},
        Malformed{"single_quotes", "m{a='x'} 1", "label value must be quoted"},
        Malformed{"no_equals", "m{a} 1", "expected '=' after a label name"},
        Malformed{"digit_label_name", "m{1a=\"x\"} 1", "bad label name"},
        Malformed{"colon_label_name", "m{a:b=\"x\"} 1", "expected '=' after a label name"},
        Malformed{"lone_comma", "m{,} 1", "bad label name"},
        Malformed{"double_comma", "m{a=\"x\",,b=\"y\"} 1", "bad label name"},
        Malformed{"missing_comma", "m{a=\"x\" b=\"y\"} 1", "expected ',' or '}' after a label"},
        Malformed{"no_value", "m", "missing value"},
        Malformed{"no_value_crlf", "m\r", "missing value"},
        Malformed{"no_value_after_labels", "m{a=\"x\"}  ", "missing value"},
        Malformed{"two_dots", "m 1.2.3", "bad value"}, Malformed{"word", "m abc", "bad value"},
        Malformed{"hex", "m 0x10", "bad value"}, Malformed{"double_sign", "m --1", "bad value"},
        Malformed{"half_exponent", "m 1e", "bad value"},
        Malformed{"out_of_range", "m 1e999", "bad value"},
        Malformed{"comma_decimal", "m 1,5", "bad value"},
        Malformed{"nul_in_value",
                  std::string("m 1\0"
                              "2",
                              5),
                  "bad value"},
        Malformed{"junk_after_labels", "m{a=\"x\"}junk", "bad value"},
        Malformed{"float_timestamp", "m 1 12.5", "bad timestamp"},
        Malformed{"word_timestamp", "m 1 abc", "bad timestamp"},
        Malformed{"signs_timestamp", "m 1 +-3", "bad timestamp"},
        Malformed{"overflowing_timestamp", "m 1 99999999999999999999", "bad timestamp"},
        Malformed{"exemplar", "m 1 2 # {a=\"b\"} 1", "unexpected text after the timestamp"},
        Malformed{"huge_unterminated_label", "m{a=\"" + kHuge, "unterminated label value"},
        Malformed{"huge_value", "m " + kHuge, "bad value"},
        Malformed{"huge_label_name", "m{" + kHuge, "expected '=' after a label name"}),
    [](const auto& test_case) { return std::string(test_case.param.name); });

TEST(PrometheusText, HugeValidLinesParse) {
  const std::string page = "other " + kHuge + "\nm{a=\"" + kHuge + "\"} 2\n";
  const auto r = scan_one(page, "m");
  ASSERT_FALSE(r.error);
  ASSERT_EQ(r.samples.size(), 1u);
  EXPECT_EQ(r.samples[0].labels.size(), kHuge.size() + 4);
}

TEST(PrometheusText, EveryMetricModeChecksAllLines) {
  const std::string good =
      "# HELP a_total Help text with \\ and \"quotes\".\n"
      "# TYPE a_total counter\n"
      "# just a comment\n"
      "a_total{x=\"1\"} 3\n"
      "b:c 4 100\r\n"
      "_d{} NaN";
  auto scanner = SampleScanner::every_metric(good);
  Sample s;
  std::vector<std::string> names;
  while (scanner.next(s) == SampleScanner::Status::kSample) {
    EXPECT_EQ(s.metric, Sample::kNoIndex);
    names.emplace_back(s.name);
  }
  EXPECT_TRUE(scanner.error().reason.empty());
  EXPECT_EQ(names, (std::vector<std::string>{"a_total", "b:c", "_d"}));

  const struct {
    std::string page;
    std::string_view reason;
  } bad[] = {
      {"# TYPE a bogus\n", "unknown metric type"},
      {"# TYPE a\n", "unknown metric type"},
      {"# TYPE a gauge extra\n", "unexpected text after the metric type"},
      {"# TYPE 1a gauge\n", "bad metric name in a HELP or TYPE line"},
      {"# HELP\n", "bad metric name in a HELP or TYPE line"},
      {"1abc 3\n", "bad metric name"},
      {"a-b 3\n", "bad metric name"},
      {"a 1 2 3\n", "unexpected text after the timestamp"},
      {"a{b=\"c\" 1\n", "expected ',' or '}' after a label"},
  };
  for (const auto& b : bad) {
    const std::string page = "x 1\n" + b.page;
    auto v = SampleScanner::every_metric(page);
    while (v.next(s) == SampleScanner::Status::kSample) {
    }
    EXPECT_EQ(v.error().reason, b.reason) << b.page;
    EXPECT_EQ(v.error().line, 2u) << b.page;
  }
}

TEST(PrometheusText, EveryTruncationOfAPageParsesOrFailsCleanly) {
  const std::string page =
      "# TYPE m gauge\nm{a=\"x\\\"y\",b=\"\\\\\",} 1.5e+01 123\r\nm NaN\nother_bucket{le=\"+Inf\"} "
      "3\n";
  const std::string_view wanted[] = {"m", "other_bucket"};
  for (std::size_t n = 0; n <= page.size(); ++n) {
    // A copy of exactly n bytes, so ASan sees any read past the end.
    const std::string prefix = page.substr(0, n);
    const auto r = scan(prefix, wanted);
    if (r.error) {
      EXPECT_FALSE(r.error->reason.empty());
    }
    auto every = SampleScanner::every_metric(prefix);
    Sample s;
    while (every.next(s) == SampleScanner::Status::kSample) {
    }
  }
}

}  // namespace
}  // namespace infergate::metrics

#include "metrics/prometheus_writer.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "metrics/prometheus_text.hpp"

namespace infergate::metrics {
namespace {

std::string number(double v, NumberStyle style = NumberStyle::kGo) {
  std::string out;
  append_number(out, v, style);
  return out;
}

// Every sample of `page`, read back by the repository's strict reader (which also checks the
// HELP and TYPE lines); fails the test on a page it rejects.
std::vector<Sample> read_back(const std::string& page) {
  auto scanner = SampleScanner::every_metric(page);
  std::vector<Sample> samples;
  Sample s;
  while (scanner.next(s) == SampleScanner::Status::kSample) samples.push_back(s);
  EXPECT_TRUE(scanner.error().reason.empty())
      << "line " << scanner.error().line << ": " << scanner.error().reason << "\n"
      << page;
  return samples;
}

TEST(PrometheusWriter, FamilyHeaderAndPlainSample) {
  std::string out;
  PrometheusWriter w(out);
  w.family("infergate_requests_total", MetricType::kCounter, "Requests answered.");
  w.sample("infergate_requests_total", 12);
  w.family("g", MetricType::kGauge, "A gauge.");
  w.family("h", MetricType::kHistogram, "A histogram.");
  EXPECT_EQ(out,
            "# HELP infergate_requests_total Requests answered.\n"
            "# TYPE infergate_requests_total counter\n"
            "infergate_requests_total 12\n"
            "# HELP g A gauge.\n# TYPE g gauge\n"
            "# HELP h A histogram.\n# TYPE h histogram\n");
  read_back(out);
}

TEST(PrometheusWriter, HelpTextEscapesBackslashAndNewlineOnly) {
  std::string out;
  PrometheusWriter(out).family("m", MetricType::kGauge, "a \\ b\nc \"quoted\"");
  EXPECT_EQ(out, "# HELP m a \\\\ b\\nc \"quoted\"\n# TYPE m gauge\n");
  read_back(out);
}

TEST(PrometheusWriter, LabelValuesAreEscapedAndReadBackUnchanged) {
  const std::vector<std::string> values = {"plain",       "",          "a\"b",    "back\\slash",
                                           "line\nbreak", "\\\"\n\\n", "ünïcödé", "{x=\"y\"}"};
  std::string out;
  PrometheusWriter w(out);
  w.family("m", MetricType::kGauge, "Escapes.");
  for (const auto& v : values) w.sample("m", LabelSet{{"pool", "p"}, {"value", v}}, 1);
  EXPECT_NE(out.find(R"(m{pool="p",value="a\"b"} 1)"), std::string::npos) << out;
  EXPECT_NE(out.find(R"(m{pool="p",value="back\\slash"} 1)"), std::string::npos) << out;
  EXPECT_NE(out.find(R"(m{pool="p",value="line\nbreak"} 1)"), std::string::npos) << out;
  const auto samples = read_back(out);
  ASSERT_EQ(samples.size(), values.size());
  for (std::size_t i = 0; i < values.size(); ++i) {
    ASSERT_TRUE(samples[i].label("value")) << values[i];
    EXPECT_EQ(samples[i].label("value")->unescaped(), values[i]);
    EXPECT_TRUE(samples[i].label("pool")->equals("p"));
  }
}

TEST(PrometheusWriter, LabelSetsAddAndAppend) {
  const LabelSet none;
  LabelSet pool;
  pool.add("pool", "a").add("endpoint", "e\"1");
  EXPECT_EQ(pool.text(), R"(pool="a",endpoint="e\"1")");
  const LabelSet reason{{"reason", "x"}};
  EXPECT_EQ(LabelSet(reason).append(pool).text(), R"(reason="x",pool="a",endpoint="e\"1")");
  EXPECT_EQ(LabelSet(pool).append(none).text(), pool.text());
  EXPECT_EQ(LabelSet().append(pool).text(), pool.text());
  std::string out;
  PrometheusWriter w(out);
  w.sample("m", none, 1);
  w.sample("m", pool, 2);
  w.sample("m", LabelSet(pool).add("reason", "y\n"), 4);
  EXPECT_EQ(out,
            "m 1\n"
            "m{pool=\"a\",endpoint=\"e\\\"1\"} 2\n"
            "m{pool=\"a\",endpoint=\"e\\\"1\",reason=\"y\\n\"} 4\n");
  read_back(out);
}

TEST(PrometheusWriter, Numbers) {
  struct Case {
    double value;
    const char* go;
    const char* python;
  };
  const Case cases[] = {
      {0, "0", "0.0"},
      {3, "3", "3.0"},
      {-7, "-7", "-7.0"},
      {100000, "100000", "100000.0"},
      {1e15, "1000000000000000", "1000000000000000.0"},
      {1e16, "1e+16", "1e+16"},
      {0.25, "0.25", "0.25"},
      {0.1, "0.1", "0.1"},
      {1700000000.5, "1700000000.5", "1700000000.5"},
      {0.0001, "0.0001", "0.0001"},  // fixed down to 1e-4, as %g and Go's 'g' write it
      {0.0005, "0.0005", "0.0005"},
      {2.5e-4, "0.00025", "0.00025"},
      {5e-5, "5e-05", "5e-05"},
      {1e-6, "1e-06", "1e-06"},
      {1.0 / 3, "0.3333333333333333", "0.3333333333333333"},
      {std::numeric_limits<double>::quiet_NaN(), "NaN", "NaN"},
      {std::numeric_limits<double>::infinity(), "+Inf", "+Inf"},
      {-std::numeric_limits<double>::infinity(), "-Inf", "-Inf"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(number(c.value), c.go);
    EXPECT_EQ(number(c.value, NumberStyle::kPython), c.python);
    // The text reads back as the same double.
    const auto back = parse_sample_value(number(c.value));
    ASSERT_TRUE(back) << c.go;
    if (std::isnan(c.value))
      EXPECT_TRUE(std::isnan(*back));
    else
      EXPECT_EQ(*back, c.value) << c.go;
  }
}

TEST(PrometheusWriter, HistogramIsCumulativeWithLeLast) {
  const double bounds[] = {0.001, 0.5, 1};
  const std::uint64_t counts[] = {2, 0, 3, 1};
  std::string out;
  PrometheusWriter w(out);
  w.family("d_seconds", MetricType::kHistogram, "Durations.");
  w.histogram("d_seconds", LabelSet{{"pool", "a"}}, bounds, counts, 2.75, 6);
  w.histogram("d_seconds", LabelSet{}, bounds, counts, 0, 6);
  EXPECT_EQ(out,
            "# HELP d_seconds Durations.\n"
            "# TYPE d_seconds histogram\n"
            "d_seconds_bucket{pool=\"a\",le=\"0.001\"} 2\n"
            "d_seconds_bucket{pool=\"a\",le=\"0.5\"} 2\n"
            "d_seconds_bucket{pool=\"a\",le=\"1\"} 5\n"
            "d_seconds_bucket{pool=\"a\",le=\"+Inf\"} 6\n"
            "d_seconds_sum{pool=\"a\"} 2.75\n"
            "d_seconds_count{pool=\"a\"} 6\n"
            "d_seconds_bucket{le=\"0.001\"} 2\n"
            "d_seconds_bucket{le=\"0.5\"} 2\n"
            "d_seconds_bucket{le=\"1\"} 5\n"
            "d_seconds_bucket{le=\"+Inf\"} 6\n"
            "d_seconds_sum 0\n"
            "d_seconds_count 6\n");
  read_back(out);
}

TEST(PrometheusWriter, PythonStyleWritesIntegralValuesAndBoundsWithAPoint) {
  const double bounds[] = {0.5, 1};
  const std::uint64_t counts[] = {1, 1, 0};
  std::string out;
  PrometheusWriter w(out, NumberStyle::kPython);
  w.histogram("x", LabelSet{{"model_name", "m"}}, bounds, counts, 1.25, 2);
  EXPECT_EQ(out,
            "x_bucket{model_name=\"m\",le=\"0.5\"} 1.0\n"
            "x_bucket{model_name=\"m\",le=\"1.0\"} 2.0\n"
            "x_bucket{model_name=\"m\",le=\"+Inf\"} 2.0\n"
            "x_sum{model_name=\"m\"} 1.25\n"
            "x_count{model_name=\"m\"} 2.0\n");
  read_back(out);
}

TEST(PrometheusWriter, AppendsToWhatTheStringHolds) {
  std::string out = "# a page already begun\n";
  PrometheusWriter(out).sample("m", 1);
  EXPECT_EQ(out, "# a page already begun\nm 1\n");
}

}  // namespace
}  // namespace infergate::metrics

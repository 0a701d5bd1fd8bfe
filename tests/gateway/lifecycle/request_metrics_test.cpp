// The request families of /metrics (RequestMetrics): both upstream name sets, the label caps,
// the running gauge, the histograms written over each version's own buckets, and the series'
// per-worker shards and each thread's last series.
#include "gateway/lifecycle/request_metrics.hpp"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

#include "gateway/lifecycle/request_context.hpp"
#include "metrics/label_cap.hpp"
#include "metrics/prometheus_writer.hpp"
#include "support/prometheus_text.hpp"

namespace infergate::gateway {
namespace {

using std::chrono::milliseconds;
using testing::sample_value;

std::string page_of(const RequestMetrics& m) {
  std::string out;
  metrics::PrometheusWriter w(out);
  m.render(w);
  return out;
}

RequestRecord record(std::string model, std::string target, std::string flow, int status = 200) {
  RequestRecord r;
  r.model = std::move(model);
  r.target_model = std::move(target);
  r.flow = std::move(flow);
  r.status = status;
  r.request_bytes = 100;
  r.response_bytes = 50;
  r.total = milliseconds(300);
  return r;
}

TEST(LabelCap, TheFirstValuesAreKeptThenOtherAndPinnedOnesAlways) {
  metrics::LabelCap cap(2);
  cap.pin({"configured"});
  EXPECT_EQ(cap.admit("a"), "a");
  EXPECT_EQ(cap.admit("b"), "b");
  EXPECT_EQ(cap.admit("c"), "other");
  EXPECT_EQ(cap.admit("a"), "a");
  EXPECT_EQ(cap.admit("configured"), "configured");
  EXPECT_EQ(cap.distinct(), 2u);
  // A value seen before it was pinned stops counting against the cap.
  cap.pin({"a"});
  EXPECT_EQ(cap.distinct(), 1u);
  EXPECT_EQ(cap.admit("d"), "d");
}

TEST(RequestMetrics, EveryLabelUnderLlmdNamesAndSumsUnderTheInferenceExtensionNames) {
  RequestMetrics m;
  RequestRecord a = record("llama", "llama-lora", "tenant-a");
  a.series = m.series(a.model, a.target_model, a.flow, 0);
  m.finished(a);
  m.finished(record("llama", "llama-lora", "tenant-b"));
  m.finished(record("llama", "llama-lora", "tenant-b", 503));
  const std::string page = page_of(m);
  EXPECT_EQ(
      sample_value(
          page,
          R"(llm_d_epp_request_total{model_name="llama",target_model_name="llama-lora",fairness_id="tenant-a",priority="0"})"),
      1);
  EXPECT_EQ(
      sample_value(
          page,
          R"(llm_d_epp_request_total{model_name="llama",target_model_name="llama-lora",fairness_id="tenant-b",priority="0"})"),
      2);
  EXPECT_EQ(
      sample_value(
          page,
          R"(llm_d_epp_request_error_total{model_name="llama",target_model_name="llama-lora",fairness_id="tenant-b",priority="0",error_code="ServiceUnavailable"})"),
      1);
  EXPECT_EQ(
      sample_value(
          page,
          R"(inference_objective_request_total{model_name="llama",priority="0",target_model_name="llama-lora"})"),
      3);
  EXPECT_EQ(
      sample_value(
          page,
          R"(inference_objective_request_error_total{error_code="ServiceUnavailable",model_name="llama",target_model_name="llama-lora"})"),
      1);
  EXPECT_EQ(
      sample_value(
          page,
          R"(inference_objective_request_duration_seconds_count{model_name="llama",target_model_name="llama-lora"})"),
      3);
  EXPECT_EQ(
      sample_value(
          page,
          R"(inference_objective_request_sizes_bucket{model_name="llama",target_model_name="llama-lora",le="128"})"),
      3);
  EXPECT_EQ(
      sample_value(
          page,
          R"(inference_objective_request_sizes_bucket{model_name="llama",target_model_name="llama-lora",le="64"})"),
      0);
}

TEST(RequestMetrics, EachVersionsTtftBucketsAreWrittenFromOneHistogram) {
  RequestMetrics m;
  RequestRecord r = record("m", "m", "f");
  r.streamed = true;
  r.ttft = milliseconds(300);
  r.total = milliseconds(1300);
  r.usage = Usage{10, 11, 4};
  m.finished(r);
  m.finished(record("m", "m", "f"));  // whole body: its TTFT is its duration (0.3 s)
  const std::string page = page_of(m);
  const std::string all = R"(model_name="m",target_model_name="m",fairness_id="f",priority="0")";
  EXPECT_EQ(sample_value(page, "llm_d_epp_request_ttft_seconds_bucket{" + all +
                                   R"(,streaming="true",le="0.2"})"),
            0);
  EXPECT_EQ(sample_value(page, "llm_d_epp_request_ttft_seconds_bucket{" + all +
                                   R"(,streaming="true",le="0.4"})"),
            1);
  EXPECT_EQ(sample_value(page, "llm_d_epp_request_ttft_seconds_bucket{" + all +
                                   R"(,streaming="true",le="120"})"),
            1);
  EXPECT_EQ(sample_value(page, "llm_d_epp_request_ttft_seconds_bucket{" + all +
                                   R"(,streaming="false",le="0.4"})"),
            1);
  EXPECT_EQ(page.find(R"(llm_d_epp_request_ttft_seconds_bucket{)" + all +
                      R"(,streaming="true",le="180"})"),
            std::string::npos);
  EXPECT_EQ(
      sample_value(
          page,
          R"(inference_objective_request_ttft_seconds_bucket{model_name="m",target_model_name="m",le="180"})"),
      2);
  // (1.3 - 0.3) / (11 - 1) = 0.1 s per token after the first.
  EXPECT_EQ(sample_value(
                page, "llm_d_epp_request_streaming_tpot_seconds_bucket{" + all + R"(,le="0.08"})"),
            0);
  EXPECT_EQ(sample_value(
                page, "llm_d_epp_request_streaming_tpot_seconds_bucket{" + all + R"(,le="0.1"})"),
            1);
  EXPECT_EQ(sample_value(page, "llm_d_epp_request_cached_tokens_sum{" + all + "}"), 4);
  EXPECT_EQ(sample_value(page, "llm_d_epp_request_input_tokens_sum{" + all + "}"), 10);
  EXPECT_EQ(sample_value(page, "llm_d_epp_request_output_tokens_sum{" + all + "}"), 11);
}

TEST(RequestMetrics, RunningCountsWhileHeldAndInterTokenLatencyComesFromTheRecord) {
  RequestMetrics m;
  RequestRecord r = record("m", "m", "f");
  r.series = m.series("m", "m", "f", 1);
  {
    RequestMetrics::Running running(r.series);
    const std::string page = page_of(m);
    EXPECT_EQ(
        sample_value(
            page,
            R"(llm_d_epp_request_running{model_name="m",target_model_name="m",fairness_id="f",priority="1"})"),
        1);
    EXPECT_EQ(sample_value(page, R"(inference_objective_running_requests{model_name="m"})"), 1);
  }
  r.streamed = true;
  r.itl.observe(0.012);
  r.itl.observe(0.012);
  r.itl.observe(3);
  m.finished(r);
  const std::string page = page_of(m);
  const std::string all = R"(model_name="m",target_model_name="m",fairness_id="f",priority="1")";
  EXPECT_EQ(sample_value(page, "llm_d_epp_request_running{" + all + "}"), 0);
  EXPECT_EQ(sample_value(
                page, "llm_d_epp_request_streaming_itl_seconds_bucket{" + all + R"(,le="0.01"})"),
            0);
  EXPECT_EQ(sample_value(
                page, "llm_d_epp_request_streaming_itl_seconds_bucket{" + all + R"(,le="0.02"})"),
            2);
  EXPECT_EQ(sample_value(page, "llm_d_epp_request_streaming_itl_seconds_count{" + all + "}"), 3);
}

TEST(RequestMetrics, ClientChosenModelsFoldIntoOtherPastTheCapButConfiguredOnesNever) {
  RequestMetrics m;
  m.pin_models({"configured"});
  for (int i = 0; i < 1005; ++i) m.finished(record("client-" + std::to_string(i), "t", "f"));
  m.finished(record("configured", "t", "f"));
  const std::string page = page_of(m);
  // "t" took one of the 1,000 places: 999 client names kept, 6 folded.
  EXPECT_EQ(sample_value(page, R"(llm_d_epp_request_total{model_name="client-998",)"), 1);
  EXPECT_EQ(sample_value(page, R"(llm_d_epp_request_total{model_name="client-999",)"), -1);
  EXPECT_EQ(
      sample_value(page, R"(llm_d_epp_request_total{model_name="other",target_model_name="t",)"),
      6);
  EXPECT_EQ(sample_value(page, R"(llm_d_epp_request_total{model_name="configured",)"), 1);
}

TEST(RequestMetrics, RequestsEndingOnSeveralThreadsAreAllCounted) {
  RequestMetrics m;
  constexpr int kThreads = 4;
  constexpr int kRequests = 500;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kRequests; ++i) {
        RequestRecord r = record("m", "m", "f", i % 10 == 0 ? 503 : 200);
        r.series = m.series("m", "m", "f", 0);
        m.finished(r);
      }
    });
  }
  for (auto& thread : threads) thread.join();
  const std::string page = page_of(m);
  const std::string all = R"(model_name="m",target_model_name="m",fairness_id="f",priority="0")";
  EXPECT_EQ(sample_value(page, "llm_d_epp_request_total{" + all + "}"), kThreads * kRequests);
  EXPECT_EQ(sample_value(page, "llm_d_epp_request_duration_seconds_count{" + all + "}"),
            kThreads * kRequests);
  EXPECT_EQ(sample_value(page, "llm_d_epp_request_error_total{" + all +
                                   R"(,error_code="ServiceUnavailable"})"),
            kThreads * kRequests / 10);
  // Rendering twice gives the same sums.
  EXPECT_EQ(page_of(m), page);
}

TEST(RequestMetrics, AThreadsLastSeriesIsReusedOnlyWhileItNamesTheRequestsOwnLabels) {
  RequestMetrics m;
  for (int i = 0; i < 1000; ++i) m.series("client-" + std::to_string(i), "client-0", "f", 0);
  // Past the cap: "late" is counted under "other", and a reload that pins it gives it its own
  // series from then on (the thread must not keep answering with "other").
  RequestMetrics::Series* folded = m.series("late", "client-0", "f", 0);
  EXPECT_EQ(RequestMetrics::labels(*folded).model, "other");
  m.pin_models({"late"});
  RequestMetrics::Series* own = m.series("late", "client-0", "f", 0);
  EXPECT_EQ(RequestMetrics::labels(*own).model, "late");
  EXPECT_EQ(m.series("late", "client-0", "f", 0), own);
  // Another RequestMetrics on the same thread has series of its own.
  RequestMetrics other;
  EXPECT_NE(other.series("late", "client-0", "f", 0), own);
}

TEST(RequestMetrics, RequestsThatAreNotInferenceAreLeftOut) {
  RequestMetrics m;
  RequestRecord listing;
  listing.status = 200;
  m.finished(listing);
  RequestRecord bad = record("", "", "", 400);
  m.finished(bad);
  const std::string page = page_of(m);
  EXPECT_EQ(
      sample_value(
          page,
          R"(llm_d_epp_request_error_total{model_name="",target_model_name="",fairness_id="",priority="0",error_code="BadRequest"})"),
      1);
  EXPECT_EQ(testing::sum_of_samples(page, "llm_d_epp_request_total"), 1);
}

TEST(RequestMetrics, ErrorCodesAreUpstreams) {
  EXPECT_EQ(upstream_error_code(200, false), "");
  EXPECT_EQ(upstream_error_code(499, false), "");
  EXPECT_EQ(upstream_error_code(400, false), "BadRequest");
  EXPECT_EQ(upstream_error_code(401, false), "Unauthorized");
  EXPECT_EQ(upstream_error_code(404, false), "NotFound");
  EXPECT_EQ(upstream_error_code(429, false), "ResourceExhausted");
  EXPECT_EQ(upstream_error_code(503, false), "ServiceUnavailable");
  EXPECT_EQ(upstream_error_code(500, true), "ModelServerError");
  EXPECT_EQ(upstream_error_code(502, false), "ModelServerError");
  EXPECT_EQ(upstream_error_code(500, false), "Internal");
}

TEST(RequestMetrics, RewriteDecisionsAreCountedUnderBothNames) {
  RequestMetrics m;
  m.rewrote("food-review-rollout", "food-review", "food-review-v2");
  m.rewrote("food-review-rollout", "food-review", "food-review-v2");
  const std::string page = page_of(m);
  for (const std::string prefix : {"inference_extension", "llm_d_epp"})
    EXPECT_EQ(
        sample_value(
            page,
            prefix +
                R"(_model_rewrite_decisions_total{model_rewrite_name="food-review-rollout",model_name="food-review",target_model="food-review-v2"})"),
        2);
}

}  // namespace
}  // namespace infergate::gateway

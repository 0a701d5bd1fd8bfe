// Calibration of the H100 / Llama-3.1-8B profile against published vLLM 0.11 server-side points
// (docs/simulator.md, "Calibration", lists them), run in virtual time. Three points tuned the
// constants (low-load TTFT, low-load time per output token, saturation without prefix caching); the
// others only check them. docs/simulator.md lists the constants and the numbers these tests print.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <numeric>

#include "sim/engine/virtual_time_runner.hpp"

namespace infergate::sim {
namespace {

GpuProfile h100() { return *find_gpu_profile("h100-llama3.1-8b"); }

double ms(Duration d) { return to_seconds(d) * 1e3; }

struct Summary {
  double ttft_mean_ms = 0, ttft_median_ms = 0, tpot_mean_ms = 0, e2e_mean_s = 0;
  double cached_ratio = 0;
};

Summary summarize(const std::vector<RequestResult>& rs) {
  Summary s;
  std::vector<double> ttft;
  double tpot = 0, e2e = 0, cached = 0, prompt = 0;
  for (const auto& r : rs) {
    ttft.push_back(ms(r.first_token - r.arrival));
    tpot += ms(r.finished - r.first_token) / std::max(1, r.output_tokens - 1);
    e2e += to_seconds(r.finished - r.arrival);
    cached += r.cached_tokens;
    prompt += r.prompt_tokens;
  }
  const double n = static_cast<double>(rs.size());
  s.ttft_mean_ms = std::accumulate(ttft.begin(), ttft.end(), 0.0) / n;
  std::nth_element(ttft.begin(), ttft.begin() + static_cast<long>(ttft.size() / 2), ttft.end());
  s.ttft_median_ms = ttft[ttft.size() / 2];
  s.tpot_mean_ms = tpot / n;
  s.e2e_mean_s = e2e / n;
  s.cached_ratio = cached / prompt;
  return s;
}

// Requests whose whole life lies inside the middle of the run (no warm-up, no drain).
std::vector<RequestResult> middle(const RunReport& r, TimePoint from, TimePoint to) {
  std::vector<RequestResult> out;
  for (const auto& x : r.results)
    if (x.arrival >= from && x.finished < to) out.push_back(x);
  return out;
}

void expect_within(double value, double target, double tolerance, const char* what) {
  std::printf("  %-48s %9.2f (published %.1f, +-%.0f%%)\n", what, value, target, tolerance * 100);
  EXPECT_GE(value, target * (1 - tolerance)) << what;
  EXPECT_LE(value, target * (1 + tolerance)) << what;
}

const RandomPromptsSpec kSonnetLike{.prompt_tokens = 204, .output_tokens = 64};

EngineConfig no_prefix_caching() {
  return EngineConfig{.profile = h100(), .enable_prefix_caching = false, .max_loras = 1};
}

// Tuning point: low load, 1 request/s.
TEST(Calibration, LowLoadTtftAndTimePerOutputToken) {
  Engine engine(no_prefix_caching());
  VirtualTimeRunner runner(engine);
  const auto report = runner.run_open_loop(poisson_random_prompts(1, 1.0, 300, kSonnetLike));
  const Summary s = summarize(report.results);
  expect_within(s.ttft_mean_ms, 31, 0.5, "low-load TTFT ms (tuned)");
  expect_within(s.tpot_mean_ms, 7.1, 0.25, "low-load time per output token ms (tuned)");
}

// Tuning point: throughput with the engine saturated, no prefix caching.
TEST(Calibration, SaturationWithoutPrefixCaching) {
  Engine engine(no_prefix_caching());
  VirtualTimeRunner runner(engine);
  const auto report = runner.run_open_loop(poisson_random_prompts(2, 200.0, 8000, kSonnetLike));
  const double rate = report.completion_rate(from_seconds(10), from_seconds(35));
  expect_within(rate, 105, 0.25, "saturation req/s, no prefix caching (tuned)");
  std::printf("  prompt tokens/s %.0f, output tokens/s %.0f\n", rate * 204, rate * 64);
}

// Check point: 128 sequences running.
TEST(Calibration, TimePerOutputTokenAt128Running) {
  Engine engine(no_prefix_caching());
  VirtualTimeRunner runner(engine);
  WorkloadGenerator gen(3);
  const auto report =
      runner.run_closed_loop(128, 6000, [&] { return gen.random_prompt(kSonnetLike); });
  const auto steady = middle(report, from_seconds(5), report.end - from_seconds(5));
  const Summary s = summarize(steady);
  expect_within(s.tpot_mean_ms, 19, 0.25, "time per output token ms at 128 running (check)");

  // Little's law on the closed loop: 128 = throughput x latency.
  const double rate = report.completion_rate(from_seconds(5), report.end - from_seconds(5));
  std::printf("  closed loop 128: %.1f req/s x %.3f s = %.1f in system\n", rate, s.e2e_mean_s,
              rate * s.e2e_mean_s);
  EXPECT_NEAR(rate * s.e2e_mean_s, 128.0, 128.0 * 0.05);
}

// Check point: the published prefix-caching run (10 groups x 10 prompts, 128-token system
// prompt, 64-token question, 64 output tokens, max-num-seqs 128).
EngineConfig prefix_run_config() {
  EngineConfig c{.profile = h100(), .enable_prefix_caching = true, .max_loras = 1};
  c.profile.max_num_seqs = 128;
  return c;
}
const SharedPrefixSpec kPrefixRun{.groups = 10,
                                  .prompts_per_group = 10,
                                  .system_tokens = 128,
                                  .question_tokens = 64,
                                  .output_tokens = 64};

TEST(Calibration, SaturationWithPrefixCaching) {
  Engine engine(prefix_run_config());
  VirtualTimeRunner runner(engine);
  const auto report = runner.run_open_loop(poisson_shared_prefix(4, 400.0, 12000, kPrefixRun));
  const double rate = report.completion_rate(from_seconds(8), from_seconds(26));
  expect_within(rate, 173, 0.25, "saturation req/s with prefix caching (check)");
}

TEST(Calibration, TtftWithPrefixCachingStaysLowUntilSaturation) {
  for (double rate : {20.0, 80.0, 140.0}) {
    Engine engine(prefix_run_config());
    VirtualTimeRunner runner(engine);
    const auto report = runner.run_open_loop(
        poisson_shared_prefix(5, rate, static_cast<int>(rate * 30), kPrefixRun));
    const auto steady = middle(report, from_seconds(5), from_seconds(25));
    const Summary s = summarize(steady);
    std::printf("  %5.0f req/s: TTFT median %.1f ms, mean %.1f ms, cached %.0f%%\n", rate,
                s.ttft_median_ms, s.ttft_mean_ms, s.cached_ratio * 100);
    // Published: 13-19 ms until saturation; allowed +-50% of that band.
    EXPECT_GE(s.ttft_median_ms, 13 * 0.5);
    EXPECT_LE(s.ttft_median_ms, 19 * 1.5);

    // Little's law over the steady window: L = lambda x W.
    const TimePoint a = from_seconds(5), b = from_seconds(25);
    const double in_system = report.mean_in_system(a, b);
    const double lambda = report.completion_rate(a, b);
    std::printf("           Little: L=%.2f, lambda*W=%.2f\n", in_system, lambda * s.e2e_mean_s);
    EXPECT_NEAR(in_system, lambda * s.e2e_mean_s, 0.05 * in_system + 0.05);
  }
}

}  // namespace
}  // namespace infergate::sim

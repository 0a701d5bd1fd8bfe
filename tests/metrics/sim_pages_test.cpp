// The pages the project's simulator renders for each engine flavour read back as the same state.
#include <gtest/gtest.h>

#include "metrics/engine_metrics.hpp"
#include "metrics/prometheus_text.hpp"
#include "sim/server/replica.hpp"

namespace infergate::metrics {
namespace {

using sim::MetricsFlavor;

struct Noop : sim::RequestObserver {
  void on_token(std::size_t, TimePoint) override {}
  void on_finished(const sim::RequestResult&) override {}
};

sim::ReplicaOptions options(MetricsFlavor flavor) {
  sim::ReplicaOptions o;
  o.model = "base";
  o.flavor = flavor;
  o.engine.profile = *sim::find_gpu_profile("tiny");  // 256 blocks of 16 tokens
  o.engine.profile.max_num_seqs = 2;
  o.engine.profile.timing.request_overhead = {};
  o.enable_lora = true;
  o.engine.max_loras = 2;
  return o;
}

// Three requests, the third for adapter "sql": two run, one waits.
void load(sim::Replica& r, Noop& observer) {
  for (int i = 0; i < 3; ++i) {
    sim::EngineRequest req;
    req.prompt.assign(40, static_cast<sim::TokenId>(i));
    req.output_tokens = 5;
    req.observer = &observer;
    req.lora = i == 2 ? "sql" : "";
    r.engine().submit(std::move(req), TimePoint{0});
  }
  ASSERT_TRUE(r.engine().begin_step(TimePoint{0}));
}

EndpointMetrics extract_ok(EngineKind engine, std::string_view page) {
  auto result = extract_metrics(engine, page);
  if (const auto* error = std::get_if<MetricsError>(&result)) {
    ADD_FAILURE() << error->message << "\n" << page;
    return {};
  }
  return std::get<EndpointMetrics>(std::move(result));
}

void expect_valid(std::string_view page) {
  auto scanner = SampleScanner::every_metric(page);
  Sample s;
  std::size_t samples = 0;
  while (scanner.next(s) == SampleScanner::Status::kSample) ++samples;
  EXPECT_TRUE(scanner.error().reason.empty())
      << "line " << scanner.error().line << ": " << scanner.error().reason;
  EXPECT_GT(samples, 10u);
}

TEST(SimPages, Vllm) {
  sim::Replica r(options(MetricsFlavor::kVllm), TimePoint{0});
  Noop observer;
  load(r, observer);
  const std::string page = sim::render_metrics(r, 1700000000.5);
  expect_valid(page);
  const auto m = extract_ok(EngineKind::kVllm, page);
  EXPECT_EQ(m.running, 2);
  EXPECT_EQ(m.waiting, 1);
  ASSERT_TRUE(m.kv_usage);
  EXPECT_GT(*m.kv_usage, 0);
  EXPECT_EQ(*m.kv_usage, r.engine().kv_cache().usage());
  EXPECT_EQ(m.block_size, 16);
  EXPECT_EQ(m.num_blocks, 256);
  ASSERT_TRUE(m.lora);
  EXPECT_EQ(m.lora->max_lora, 2);
  EXPECT_TRUE(m.lora->running.empty());
  EXPECT_EQ(m.lora->waiting, std::vector<std::string>{"sql"});
}

TEST(SimPages, VllmIdleReplica) {
  sim::Replica r(options(MetricsFlavor::kVllm), TimePoint{0});
  const auto m = extract_ok(EngineKind::kVllm, sim::render_metrics(r, 0));
  EXPECT_EQ(m.running, 0);
  EXPECT_EQ(m.waiting, 0);
  EXPECT_EQ(m.kv_usage, 0.0);
}

TEST(SimPages, Sglang) {
  sim::Replica r(options(MetricsFlavor::kSglang), TimePoint{0});
  Noop observer;
  load(r, observer);
  const std::string page = sim::render_metrics(r, 0);
  expect_valid(page);
  const auto m = extract_ok(EngineKind::kSglang, page);
  EXPECT_EQ(m.running, 2);
  EXPECT_EQ(m.waiting, 1);
  EXPECT_EQ(m.kv_usage, r.engine().kv_cache().usage());
  EXPECT_EQ(m.block_size, 16);
  EXPECT_EQ(m.num_blocks, 256);
  EXPECT_FALSE(m.lora);
}

TEST(SimPages, TrtllmServe) {
  sim::Replica r(options(MetricsFlavor::kTrtllm), TimePoint{0});
  Noop observer;
  load(r, observer);
  const std::string page = sim::render_metrics(r, 0);
  expect_valid(page);
  const auto m = extract_ok(EngineKind::kTrtllmServe, page);
  EXPECT_EQ(m.running, 2);
  EXPECT_EQ(m.waiting, 1);
  EXPECT_EQ(m.kv_usage, r.engine().kv_cache().usage());
  EXPECT_EQ(m.block_size, 16);
  EXPECT_EQ(m.num_blocks, 256);
}

}  // namespace
}  // namespace infergate::metrics

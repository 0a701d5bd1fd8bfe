#include <gtest/gtest.h>

#include <map>
#include <sstream>

#include "sim/server/replica.hpp"

namespace infergate::sim {
namespace {

// Minimal reader of our own exposition: series name (with labels) -> value.
std::map<std::string, double> samples(const std::string& text) {
  std::map<std::string, double> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    const auto space = line.rfind(' ');
    out[line.substr(0, space)] = std::stod(line.substr(space + 1));
  }
  return out;
}

double value_of(const std::map<std::string, double>& s, const std::string& prefix) {
  for (const auto& [k, v] : s)
    if (k.rfind(prefix, 0) == 0) return v;
  ADD_FAILURE() << "no series " << prefix;
  return -1;
}

struct Noop : RequestObserver {
  void on_token(std::size_t, TimePoint) override {}
  void on_finished(const RequestResult&) override {}
};

ReplicaOptions options(MetricsFlavor flavor) {
  ReplicaOptions o;
  o.model = "base";
  o.flavor = flavor;
  o.engine.profile = *find_gpu_profile("tiny");
  o.engine.profile.max_num_seqs = 2;
  o.engine.profile.timing.request_overhead = {};
  o.enable_lora = true;
  o.engine.max_loras = 2;
  return o;
}

void load(Replica& r, Noop& obs) {
  for (int i = 0; i < 3; ++i) {
    EngineRequest req;
    req.prompt.assign(40, static_cast<TokenId>(i));
    req.output_tokens = 5;
    req.observer = &obs;
    req.lora = i == 2 ? "sql" : "";
    r.engine().submit(std::move(req), TimePoint{0});
  }
  ASSERT_TRUE(r.engine().begin_step(TimePoint{0}));
}

TEST(MetricsExposition, VllmNamesMoveWithState) {
  Replica r(options(MetricsFlavor::kVllm), TimePoint{0});
  Noop obs;
  load(r, obs);
  const std::string text = render_metrics(r, 1700000000.5);
  const auto s = samples(text);
  EXPECT_EQ(value_of(s, "vllm:num_requests_running{"), 2);
  EXPECT_EQ(value_of(s, "vllm:num_requests_waiting{"), 1);
  EXPECT_GT(value_of(s, "vllm:kv_cache_usage_perc{"), 0);
  EXPECT_EQ(value_of(s, "vllm:kv_cache_usage_perc{"), value_of(s, "vllm:gpu_cache_usage_perc{"));
  EXPECT_EQ(value_of(s, "vllm:cache_config_info{block_size=\"16\""), 1);
  EXPECT_EQ(value_of(s,
                     "vllm:lora_requests_info{max_lora=\"2\",running_lora_adapters=\"\","
                     "waiting_lora_adapters=\"sql\"}"),
            1700000000.5);
  EXPECT_EQ(value_of(s, "vllm:prompt_tokens_total{"), 120);
  EXPECT_NE(text.find("# TYPE vllm:time_to_first_token_seconds histogram"), std::string::npos);
  EXPECT_NE(text.find("vllm:time_to_first_token_seconds_bucket{model_name=\"base\",engine=\"0\","
                      "le=\"+Inf\"} 0.0"),
            std::string::npos)
      << "le last, counts written as vLLM writes them (no first token yet)";
  EXPECT_NE(text.find("model_name=\"base\",engine=\"0\""), std::string::npos);
}

TEST(MetricsExposition, SglangAndTrtllmNames) {
  Noop obs;
  Replica sg(options(MetricsFlavor::kSglang), TimePoint{0});
  load(sg, obs);
  const auto s = samples(render_metrics(sg, 0));
  EXPECT_EQ(value_of(s, "sglang:num_running_reqs{"), 2);
  EXPECT_EQ(value_of(s, "sglang:num_queue_reqs{"), 1);
  EXPECT_GT(value_of(s, "sglang:token_usage{"), 0);
  EXPECT_EQ(value_of(s, "sglang:cache_config_info{page_size=\"16\""), 1);

  Replica trt(options(MetricsFlavor::kTrtllm), TimePoint{0});
  load(trt, obs);
  const auto t = samples(render_metrics(trt, 0));
  EXPECT_EQ(value_of(t, "trtllm_num_requests_running{"), 2);
  EXPECT_EQ(value_of(t, "trtllm_num_requests_waiting{"), 1);
  EXPECT_EQ(value_of(t, "trtllm_kv_cache_tokens_per_block{"), 16);
  EXPECT_EQ(value_of(t, "trtllm_kv_cache_max_blocks{"), 256);
}

TEST(MetricsExposition, LabelValuesAreEscaped) {
  auto o = options(MetricsFlavor::kVllm);
  o.served_model_names = {"we\"ird\\name"};
  Replica r(o, TimePoint{0});
  EXPECT_NE(render_metrics(r, 0).find("model_name=\"we\\\"ird\\\\name\""), std::string::npos);
}

}  // namespace
}  // namespace infergate::sim

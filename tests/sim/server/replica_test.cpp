#include "sim/server/replica.hpp"

#include <gtest/gtest.h>

namespace infergate::sim {
namespace {

ReplicaOptions options() {
  ReplicaOptions o;
  o.model = "base";
  o.engine.profile = *find_gpu_profile("tiny");
  o.enable_lora = true;
  o.lora_modules = {{"sql", "/a/sql"}};
  o.max_model_len = 100;
  return o;
}

TEST(Replica, ResolvesBaseAndAdapterNames) {
  Replica r(options(), TimePoint{0});
  EXPECT_EQ(r.resolve_model("base"), "");
  EXPECT_EQ(r.resolve_model("sql"), "sql");
  EXPECT_FALSE(r.resolve_model("other"));
}

TEST(Replica, LoadsAndUnloadsAdapters) {
  Replica r(options(), TimePoint{0});
  EXPECT_TRUE(std::holds_alternative<std::string>(
      r.load_adapter(R"({"lora_name":"tweet","lora_path":"/a/t"})")));
  EXPECT_EQ(r.resolve_model("tweet"), "tweet");
  EXPECT_EQ(
      std::get<ApiError>(r.load_adapter(R"({"lora_name":"tweet","lora_path":"/a/t"})")).status,
      400);
  EXPECT_EQ(std::get<ApiError>(r.load_adapter(R"({"lora_name":"x"})")).status, 400);
  EXPECT_TRUE(std::holds_alternative<std::string>(r.unload_adapter(R"({"lora_name":"tweet"})")));
  EXPECT_FALSE(r.resolve_model("tweet"));
  EXPECT_EQ(std::get<ApiError>(r.unload_adapter(R"({"lora_name":"tweet"})")).status, 404);
}

TEST(Replica, OutputLengthFollowsMaxTokensAndIgnoreEos) {
  Replica r(options(), TimePoint{0});
  GenerationRequest g;
  g.kind = ApiKind::kCompletions;
  g.prompt = "abcdabcd";
  g.max_tokens = 20;
  g.ignore_eos = true;
  auto req = std::get<EngineRequest>(r.prepare(g, ""));
  EXPECT_EQ(req.output_tokens, 20);
  EXPECT_EQ(req.finish_reason, "length");
  g.ignore_eos = false;
  for (int i = 0; i < 50; ++i) {
    req = std::get<EngineRequest>(r.prepare(g, ""));
    EXPECT_GE(req.output_tokens, 1);
    EXPECT_LE(req.output_tokens, 20);
    EXPECT_EQ(req.finish_reason, req.output_tokens < 20 ? "stop" : "length");
  }
  g.max_tokens.reset();
  EXPECT_LE(std::get<EngineRequest>(r.prepare(g, "")).output_tokens, 16)
      << "completions default to 16 tokens as in vLLM";
}

TEST(Replica, RejectsRequestsBeyondTheContextLength) {
  Replica r(options(), TimePoint{0});
  GenerationRequest g;
  g.kind = ApiKind::kCompletions;
  g.prompt = std::string(380, 'x');  // 95 tokens
  g.max_tokens = 10;
  auto out = r.prepare(g, "");
  ASSERT_TRUE(std::holds_alternative<ApiError>(out));
  EXPECT_EQ(std::get<ApiError>(out).status, 400);
  EXPECT_NE(std::get<ApiError>(out).message.find("maximum context length is 100"),
            std::string::npos);
}

TEST(Replica, StartupDelayAndHealthFault) {
  auto o = options();
  o.startup_delay = std::chrono::milliseconds(100);
  Replica r(o, TimePoint{0});
  EXPECT_FALSE(r.healthy(TimePoint{std::chrono::milliseconds(99)}));
  EXPECT_TRUE(r.healthy(TimePoint{std::chrono::milliseconds(100)}));
  ASSERT_FALSE(r.update_faults(R"({"health":"fail"})"));
  EXPECT_FALSE(r.healthy(TimePoint{std::chrono::milliseconds(200)}));
}

TEST(Replica, FaultUpdatesAreValidated) {
  Replica r(options(), TimePoint{0});
  EXPECT_FALSE(r.update_faults(R"({"metrics":"garbled","failure_rate":0.5,"slowdown":2})"));
  EXPECT_EQ(r.faults().metrics, FaultSettings::Metrics::kGarbled);
  EXPECT_DOUBLE_EQ(r.engine().slowdown(), 2.0);
  EXPECT_TRUE(r.update_faults(R"({"metrics":"sideways"})"));
  EXPECT_TRUE(r.update_faults(R"({"failure_rate":2})"));
  EXPECT_TRUE(r.update_faults(R"({"bogus":1})"));
  EXPECT_EQ(r.faults().failure_rate, 0.5) << "a rejected update changes nothing";
  ASSERT_FALSE(r.update_faults(R"({"failure_rate":1})"));
  EXPECT_TRUE(r.draw_failure());
}

}  // namespace
}  // namespace infergate::sim

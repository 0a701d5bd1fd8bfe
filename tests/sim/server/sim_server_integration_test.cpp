// infergate-sim as a real process on loopback ports chosen at run time, driven over HTTP.
#include <gtest/gtest.h>

#include <atomic>
#include <boost/json.hpp>
#include <map>
#include <thread>

#include "support/child_process.hpp"
#include "support/http_client.hpp"
#include "support/prometheus_text.hpp"

namespace infergate::testing {
namespace {
namespace json = boost::json;

constexpr const char* kModel = "meta-llama/Llama-3.1-8B-Instruct";

struct Sim {
  explicit Sim(std::vector<std::string> args)
      : process(INFERGATE_SIM_BIN, with_port(std::move(args))) {
    ports = replica_ports(process.ready_json());
  }
  static std::vector<std::string> with_port(std::vector<std::string> args) {
    args.insert(args.begin(), {"--port", "0"});
    return args;
  }
  HttpClient client(std::size_t replica = 0) const {
    return HttpClient("127.0.0.1", ports.at(replica));
  }
  ChildProcess process;
  std::vector<unsigned short> ports;
};

std::string completion(const std::string& prompt, int max_tokens, bool stream = false,
                       bool usage = false, const std::string& model = kModel) {
  json::object body{{"model", model},
                    {"prompt", prompt},
                    {"max_tokens", max_tokens},
                    {"ignore_eos", true},
                    {"stream", stream}};
  if (usage) body["stream_options"] = json::object{{"include_usage", true}};
  return json::serialize(body);
}

// Reads a metric value (first series whose name and labels start with `prefix`).
double metric(HttpClient& c, const std::string& prefix) {
  const auto res = c.get("/metrics");
  EXPECT_EQ(res.status, 200);
  const double v = sample_value(res.body, prefix);
  EXPECT_GE(v, 0) << "no metric " << prefix;
  return v;
}

// Scrapes until `pred` holds or 30 s pass; each scrape is a real request, so this waits on the
// server's state without sleeping.
template <typename Pred>
bool until(HttpClient& c, Pred pred) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline)
    if (pred(c)) return true;
  return false;
}

class SimServer : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    sim_ = new Sim({"--replicas", "2", "--enable-lora", "--lora-modules", "sql-lora=/adapters/sql",
                    "--max-body-bytes", "65536", "--max-model-len", "8192"});
  }
  static void TearDownTestSuite() {
    delete sim_;
    sim_ = nullptr;
  }
  static Sim* sim_;
};
Sim* SimServer::sim_ = nullptr;

TEST_F(SimServer, NonStreamingCompletionWithUsage) {
  auto c = sim_->client();
  const auto res = c.post("/v1/completions", completion("Hello there, simulator", 12));
  ASSERT_EQ(res.status, 200) << res.body;
  EXPECT_EQ(res.header("x-inference-pod"), "sim-0");
  EXPECT_EQ(res.header("content-type"), "application/json");
  const auto body = json::parse(res.body);
  EXPECT_EQ(body.at("object").as_string(), "text_completion");
  EXPECT_EQ(body.at("model").as_string(), kModel);
  EXPECT_EQ(body.at("choices").at(0).at("finish_reason").as_string(), "length");
  EXPECT_EQ(body.at("choices").at(0).at("text").as_string().size(), 48u);
  EXPECT_EQ(body.at("usage").at("prompt_tokens").as_int64(), 6);
  EXPECT_EQ(body.at("usage").at("completion_tokens").as_int64(), 12);
  EXPECT_EQ(body.at("usage").at("total_tokens").as_int64(), 18);
  EXPECT_TRUE(body.at("usage").at("prompt_tokens_details").at("cached_tokens").is_int64());
}

TEST_F(SimServer, NonStreamingChat) {
  auto c = sim_->client(1);
  const auto res =
      c.post("/v1/chat/completions",
             json::serialize(json::object{
                 {"model", kModel},
                 {"max_tokens", 5},
                 {"messages", json::array{json::object{{"role", "user"}, {"content", "hi"}}}}}));
  ASSERT_EQ(res.status, 200) << res.body;
  EXPECT_EQ(res.header("x-inference-pod"), "sim-1");
  const auto body = json::parse(res.body);
  EXPECT_EQ(body.at("object").as_string(), "chat.completion");
  EXPECT_EQ(body.at("choices").at(0).at("message").at("role").as_string(), "assistant");
  EXPECT_LE(body.at("usage").at("completion_tokens").as_int64(), 5);
}

TEST_F(SimServer, StreamingCompletionWithUsageChunk) {
  auto c = sim_->client();
  const auto res = c.post_streaming("/v1/completions", completion("stream me", 20, true, true));
  ASSERT_EQ(res.status, 200);
  EXPECT_EQ(res.header("content-type"), "text/event-stream");
  const auto events = sse_payloads(res.body);
  ASSERT_EQ(events.size(), 20u + 2u) << res.body;
  for (std::size_t i = 0; i < 20; ++i) {
    const auto chunk = json::parse(events[i]);
    EXPECT_TRUE(chunk.at("usage").is_null());
    EXPECT_EQ(chunk.at("choices").at(0).at("finish_reason").is_null(), i != 19);
  }
  const auto usage = json::parse(events[20]);
  EXPECT_TRUE(usage.at("choices").as_array().empty());
  EXPECT_EQ(usage.at("usage").at("completion_tokens").as_int64(), 20);
  EXPECT_EQ(events[21], "[DONE]");
}

TEST_F(SimServer, StreamingChatStartsWithTheRoleAndOmitsUsageUnlessAsked) {
  auto c = sim_->client();
  const auto res = c.post_streaming(
      "/v1/chat/completions",
      json::serialize(json::object{
          {"model", kModel},
          {"max_tokens", 4},
          {"ignore_eos", true},
          {"stream", true},
          {"messages", json::array{json::object{{"role", "user"}, {"content", "hi"}}}}}));
  const auto events = sse_payloads(res.body);
  ASSERT_EQ(events.size(), 1u + 4u + 1u);
  EXPECT_EQ(json::parse(events[0]).at("choices").at(0).at("delta").at("role").as_string(),
            "assistant");
  for (const auto& e : events) EXPECT_EQ(e.find("\"usage\""), std::string::npos);
}

TEST_F(SimServer, TokensStreamAsTheyAreProduced) {
  auto c = sim_->client();
  // 64 decode steps of ~7 ms: the first event must arrive long before the last.
  const auto res = c.post_streaming("/v1/completions", completion("x", 64, true));
  ASSERT_EQ(res.status, 200);
  ASSERT_GE(res.pieces.size(), 8u) << "the body arrived in few pieces: not streamed";
  const double first = res.pieces.front().first.count(), last = res.pieces.back().first.count();
  EXPECT_LT(first, last * 0.5) << "first " << first << " s, last " << last << " s";
}

TEST_F(SimServer, KeepAliveReusesTheConnection) {
  auto c = sim_->client();
  for (int i = 0; i < 5; ++i) ASSERT_EQ(c.post("/v1/completions", completion("k", 2)).status, 200);
  EXPECT_EQ(c.get("/health").status, 200);
  EXPECT_EQ(c.connections_opened(), 1);
}

TEST_F(SimServer, ErrorsAsVllmSendsThem) {
  auto c = sim_->client();
  auto check = [&](const HttpResponse& res, int status, const std::string& type) {
    EXPECT_EQ(res.status, status) << res.body;
    const auto body = json::parse(res.body);
    EXPECT_EQ(body.at("error").at("type").as_string(), type) << res.body;
    EXPECT_EQ(body.at("error").at("code").as_int64(), status);
    EXPECT_EQ(res.header("x-inference-pod"), "sim-0");
  };
  check(c.post("/v1/completions", completion("x", 2, false, false, "nope")), 404, "NotFoundError");
  EXPECT_NE(c.post("/v1/completions", completion("x", 2, false, false, "nope"))
                .body.find("The model `nope` does not exist."),
            std::string::npos);
  check(c.post("/v1/completions", "{broken"), 400, "BadRequestError");
  check(c.post("/v1/completions", R"({"prompt":"x"})"), 400, "BadRequestError");
  check(c.post("/v1/completions", completion("x", 9000)), 400, "BadRequestError");
  check(c.get("/v1/nothing"), 404, "NotFoundError");
  check(c.get("/v1/completions"), 405, "BadRequestError");
  check(c.post("/v1/completions", completion("x", 2), {{"x-sim-force-status", "503"}}), 503,
        "ServiceUnavailableError");
  check(c.post("/v1/completions", completion("x", 2), {{"x-sim-force-status", "429"}}), 429,
        "RateLimitError");
  // Still serving on the same connection after all of that.
  EXPECT_EQ(c.post("/v1/completions", completion("x", 2)).status, 200);
  // Over the body limit: 413, then the server closes the connection.
  check(c.post("/v1/completions", completion(std::string(70000, 'a'), 2)), 413, "BadRequestError");
}

TEST_F(SimServer, Embeddings) {
  auto c = sim_->client();
  const auto res = c.post(
      "/v1/embeddings", R"({"model":"meta-llama/Llama-3.1-8B-Instruct","input":["a b c d","e"]})");
  ASSERT_EQ(res.status, 200) << res.body;
  const auto body = json::parse(res.body);
  EXPECT_EQ(body.at("data").as_array().size(), 2u);
  EXPECT_EQ(body.at("usage").at("prompt_tokens").as_int64(), 3);
}

TEST_F(SimServer, LoraAdaptersLoadAndUnloadAtRunTime) {
  auto c = sim_->client(1);
  auto models = json::parse(c.get("/v1/models").body);
  ASSERT_EQ(models.at("data").as_array().size(), 2u);
  EXPECT_EQ(models.at("data").at(1).at("id").as_string(), "sql-lora");
  EXPECT_EQ(models.at("data").at(1).at("parent").as_string(), kModel);
  EXPECT_EQ(c.post("/v1/completions", completion("x", 2, false, false, "sql-lora")).status, 200);

  EXPECT_EQ(c.post("/v1/completions", completion("x", 2, false, false, "tweet-lora")).status, 404);
  const auto loaded = c.post("/v1/load_lora_adapter",
                             R"({"lora_name":"tweet-lora","lora_path":"/adapters/tweet"})");
  EXPECT_EQ(loaded.status, 200) << loaded.body;
  EXPECT_EQ(
      c.post("/v1/load_lora_adapter", R"({"lora_name":"tweet-lora","lora_path":"/adapters/tweet"})")
          .status,
      400);
  EXPECT_EQ(c.post("/v1/completions", completion("x", 2, false, false, "tweet-lora")).status, 200);
  models = json::parse(c.get("/v1/models").body);
  EXPECT_EQ(models.at("data").as_array().size(), 3u);
  EXPECT_EQ(c.post("/v1/unload_lora_adapter", R"({"lora_name":"tweet-lora"})").status, 200);
  EXPECT_EQ(c.post("/v1/unload_lora_adapter", R"({"lora_name":"tweet-lora"})").status, 404);
  EXPECT_EQ(c.post("/v1/completions", completion("x", 2, false, false, "tweet-lora")).status, 404);
  // Replica 0 never saw the adapter: each replica has its own state.
  auto c0 = sim_->client(0);
  EXPECT_EQ(json::parse(c0.get("/v1/models").body).at("data").as_array().size(), 2u);
}

TEST_F(SimServer, RepeatedLongPromptReportsCachedTokensAndLowerTtft) {
  auto c = sim_->client(1);
  // 16,000 bytes = 4,000 tokens: prefill is ~110 ms uncached and one block cached.
  std::string prompt;
  for (int i = 0; prompt.size() < 16000; ++i) prompt += "word" + std::to_string(i % 10);
  prompt.resize(16000);
  auto ttft = [&](int& cached) {
    const auto res = c.post_streaming("/v1/completions", completion(prompt, 2, true, true));
    EXPECT_EQ(res.status, 200);
    const auto events = sse_payloads(res.body);
    cached = static_cast<int>(json::parse(events.at(events.size() - 2))
                                  .at("usage")
                                  .at("prompt_tokens_details")
                                  .at("cached_tokens")
                                  .as_int64());
    return res.pieces.front().first.count();
  };
  int cached_first = -1, cached_second = -1;
  const double first = ttft(cached_first);
  const double second = ttft(cached_second);
  EXPECT_EQ(cached_first, 0);
  EXPECT_EQ(cached_second, (4000 - 1) / 16 * 16) << "all whole blocks but the last";
  EXPECT_LT(second, first * 0.6) << "first " << first << " s, second " << second << " s";
  EXPECT_GE(metric(c, "vllm:prefix_cache_hits_total{"), 3984);
}

TEST_F(SimServer, MetricsShowRunningWaitingAndKvUseUnderLoad) {
  Sim sim({"--max-num-seqs", "4"});
  constexpr int kRequests = 10;
  std::atomic<int> streaming{0};
  std::atomic<bool> stop{false};
  std::vector<std::thread> clients;
  for (int i = 0; i < kRequests; ++i) {
    clients.emplace_back([&, i] {
      auto c = sim.client();
      bool counted = false;
      c.post_streaming("/v1/completions", completion("load " + std::to_string(i), 100000, true),
                       [&](const std::string&) {
                         if (!counted) ++streaming;
                         counted = true;
                         return !stop.load();
                       });
    });
  }
  auto m = sim.client();
  ASSERT_TRUE(until(m, [&](HttpClient& c) {
    return metric(c, "vllm:num_requests_running{") == 4 &&
           metric(c, "vllm:num_requests_waiting{") == 6;
  })) << "expected 4 running (the cap) and 6 waiting";
  EXPECT_GT(metric(m, "vllm:kv_cache_usage_perc{"), 0.0);
  EXPECT_EQ(metric(m, "vllm:num_requests_running{"), 4);
  // Clients that go away stop their work: each client closes at its next event, so the queue
  // drains without any output being finished.
  stop = true;
  ASSERT_TRUE(until(m, [&](HttpClient& c) {
    return metric(c, "vllm:num_requests_running{") == 0 &&
           metric(c, "vllm:num_requests_waiting{") == 0;
  }));
  for (auto& t : clients) t.join();
  // An abort is counted when the engine's next step sees it, which may come after the queues
  // look empty.
  EXPECT_TRUE(until(m, [&](HttpClient& c) {
    return metric(c, "vllm:request_success_total{finished_reason=\"abort\"") == kRequests;
  })) << metric(m, "vllm:request_success_total{finished_reason=\"abort\"");
  EXPECT_EQ(metric(m, "vllm:kv_cache_usage_perc{"), 0.0);
}

TEST_F(SimServer, ClientDisconnectDuringANonStreamingRequestAbortsIt) {
  Sim sim({});
  auto c = sim.client();
  auto m = sim.client();
  c.send_only("/v1/completions", completion("long", 100000));
  ASSERT_TRUE(until(m, [](HttpClient& x) { return metric(x, "vllm:num_requests_running{") == 1; }));
  c.close();
  ASSERT_TRUE(until(m, [](HttpClient& x) { return metric(x, "vllm:num_requests_running{") == 0; }));
  EXPECT_EQ(metric(m, "vllm:request_success_total{finished_reason=\"abort\""), 1);
}

TEST_F(SimServer, StartupDelayAnswers503UntilReady) {
  Sim sim({"--startup-delay-ms", "300"});
  auto c = sim.client();
  const auto early = c.get("/health");
  EXPECT_EQ(early.status, 503);
  EXPECT_EQ(c.post("/v1/completions", completion("x", 2)).status, 503);
  ASSERT_TRUE(until(c, [](HttpClient& x) { return x.get("/health").status == 200; }));
  EXPECT_EQ(c.post("/v1/completions", completion("x", 2)).status, 200);
}

TEST_F(SimServer, InjectedFaults) {
  Sim sim({"--replicas", "1"});
  auto c = sim.client();
  ASSERT_EQ(c.post("/sim/faults", R"({"metrics":"missing"})").status, 200);
  EXPECT_EQ(c.get("/metrics").status, 404);
  ASSERT_EQ(c.post("/sim/faults", R"({"metrics":"garbled"})").status, 200);
  const auto garbled = c.get("/metrics");
  EXPECT_EQ(garbled.status, 200);
  EXPECT_EQ(garbled.body.find("# HELP"), std::string::npos);
  ASSERT_EQ(c.post("/sim/faults", R"({"metrics":"slow","metrics_delay_ms":300})").status, 200);
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(c.get("/metrics").status, 200);
  EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(300));
  ASSERT_EQ(
      c.post("/sim/faults", R"({"metrics":"ok","failure_rate":1.0,"failure_status":502})").status,
      200);
  EXPECT_EQ(c.post("/v1/completions", completion("x", 2)).status, 502);
  ASSERT_EQ(c.post("/sim/faults", R"({"failure_rate":0,"health":"fail"})").status, 200);
  EXPECT_EQ(c.get("/health").status, 503);
  EXPECT_EQ(c.post("/sim/faults", R"({"unknown":1})").status, 400);

  // A stream cut mid-way: no [DONE], connection dropped.
  ASSERT_EQ(c.post("/sim/faults", R"({"health":"ok"})").status, 200);
  auto s = sim.client();
  const auto cut = s.post_streaming("/v1/completions", completion("x", 50, true), {},
                                    {{"x-sim-abort-after-tokens", "5"}});
  EXPECT_FALSE(cut.complete);
  const auto events = sse_payloads(cut.body);
  EXPECT_EQ(events.size(), 5u);
  for (const auto& e : events) EXPECT_NE(e, "[DONE]");
  EXPECT_TRUE(until(c, [](HttpClient& x) { return metric(x, "vllm:num_requests_running{") == 0; }));
}

TEST_F(SimServer, SglangMetricNames) {
  Sim sim({"--engine", "sglang"});
  auto c = sim.client();
  const auto body = c.get("/metrics").body;
  EXPECT_NE(body.find("sglang:num_queue_reqs{"), std::string::npos);
  EXPECT_NE(body.find("sglang:token_usage{"), std::string::npos);
  EXPECT_EQ(body.find("vllm:"), std::string::npos);
}

TEST(SimProcess, RejectsBadFlags) {
  EXPECT_THROW(ChildProcess(INFERGATE_SIM_BIN, {"--gpu-profile", "b200"}, std::chrono::seconds(5)),
               std::runtime_error);
  EXPECT_THROW(ChildProcess(INFERGATE_SIM_BIN, {"--lora-modules", "x=y"}, std::chrono::seconds(5)),
               std::runtime_error);
}

TEST(SimProcess, ExitsCleanlyOnSigterm) {
  ChildProcess p(INFERGATE_SIM_BIN, {"--port", "0", "--replicas", "3"});
  EXPECT_EQ(replica_ports(p.ready_json()).size(), 3u);
  EXPECT_EQ(p.terminate(), 0);
}

}  // namespace
}  // namespace infergate::testing

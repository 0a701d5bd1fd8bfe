// infergate and infergate-sim as real processes on loopback ports chosen at run time.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <boost/json.hpp>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <map>
#include <thread>

#include "support/child_process.hpp"
#include "support/gateway_processes.hpp"
#include "support/http_client.hpp"
#include "support/integration.hpp"
#include "support/prometheus_text.hpp"

namespace infergate::testing {
namespace {
namespace json = boost::json;
namespace fs = std::filesystem;

// A fleet shared by most tests: pool "llama" (2 replicas, adapters food-review-1/2), pool
// "qwen" (1 replica), pool "empty" (no endpoints), pool "dead" (a closed port).
class GatewayIT : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    llama_ = start_sim({"--replicas", "2", "--pod-name", "llama", "--served-model-name", "llama",
                        "shared", "--enable-lora", "--max-loras", "2", "--lora-modules",
                        "food-review-1=/a/1", "food-review-2=/a/2"})
                 .release();
    qwen_ = start_sim({"--replicas", "1", "--pod-name", "qwen", "--served-model-name", "qwen",
                       "shared", "--gpu-profile", "tiny"})
                .release();
    std::string yaml =
        "apiVersion: infergate.dev/v1alpha1\nkind: StaticEndpoints\nmetadata: {name: eps}\nspec:\n "
        " endpoints:\n" +
        endpoints_yaml("llama", "llama", *llama_) + endpoints_yaml("qwen", "qwen", *qwen_) +
        "  - {name: dead-0, address: \"127.0.0.1:1\", labels: {app: dead}}\n";
    yaml += pool_yaml("llama") + pool_yaml("qwen") + pool_yaml("empty") + pool_yaml("dead");
    yaml += R"(---
apiVersion: inference.networking.x-k8s.io/v1alpha2
kind: InferenceModel
metadata: {name: food}
spec:
  modelName: food-review
  poolRef: {name: llama}
  targetModels: [{name: food-review-1, weight: 90}, {name: food-review-2, weight: 10}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: llm}
spec:
  rules:
  - matches: [{headers: [{name: X-Gateway-Model-Name, value: qwen}]}]
    backendRefs: [)" +
            backend("qwen") + R"(]
  - matches: [{headers: [{name: X-Gateway-Model-Name, value: llama}]}, {headers: [{name: X-Gateway-Model-Name, value: food-review}]}]
    backendRefs: [)" +
            backend("llama") + R"(]
  - matches: [{headers: [{name: X-Gateway-Model-Name, value: shared}]}]
    backendRefs: [)" +
            backend("llama", 3) + ", " + backend("qwen", 1) + R"(]
  - matches: [{headers: [{name: X-Gateway-Model-Name, value: ghost}]}]
    backendRefs: [)" +
            backend("empty") + R"(]
  - matches: [{headers: [{name: X-Gateway-Model-Name, value: zombie}]}]
    backendRefs: [)" +
            backend("dead") + R"(]
)";
    config_ = new TempConfig(yaml);
    // These tests are about the data path; flow control has its own (shedding would turn the
    // thousand-connection test's overload into 429s).
    gateway_ = new Gateway(config_->path(), {"--max-body-bytes", "65536", "--no-flow-control"});
  }
  static void TearDownTestSuite() {
    delete gateway_;
    delete config_;
    delete llama_;
    delete qwen_;
  }
  static inline Process* llama_ = nullptr;
  static inline Process* qwen_ = nullptr;
  static inline TempConfig* config_ = nullptr;
  static inline Gateway* gateway_ = nullptr;
};

TEST_F(GatewayIT, EachModelReachesOnlyItsPool) {
  auto c = gateway_->client();
  for (int i = 0; i < 10; ++i) {
    const auto q = c.post("/v1/completions", completion("qwen"));
    ASSERT_EQ(q.status, 200) << q.body;
    EXPECT_EQ(q.header("x-inference-pod").rfind("qwen-", 0), 0u);
    const auto l = c.post("/v1/completions", completion("llama"));
    ASSERT_EQ(l.status, 200) << l.body;
    EXPECT_EQ(l.header("x-inference-pod").rfind("llama-", 0), 0u);
  }
}

TEST_F(GatewayIT, RouteWeightsSplitTrafficAcrossPools) {
  std::atomic<int> qwen{0}, ok{0};
  constexpr int kRequests = 400, kThreads = 8;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      auto c = gateway_->client();
      for (int i = 0; i < kRequests / kThreads; ++i) {
        const auto res = c.post("/v1/completions", completion("shared", 1));
        ok += res.status == 200;
        qwen += res.header("x-inference-pod").rfind("qwen-", 0) == 0;
      }
    });
  }
  for (auto& t : threads) t.join();
  ASSERT_EQ(ok.load(), kRequests);
  // Expected share 1/4; 4 standard deviations of a binomial with n=400 is about 0.087.
  EXPECT_NEAR(static_cast<double>(qwen.load()) / kRequests, 0.25, 0.087);
}

TEST_F(GatewayIT, ModelRewriteGoesUpstreamAndComesBack) {
  auto c = gateway_->client();
  for (int i = 0; i < 5; ++i) {
    const auto res = c.post("/v1/completions", completion("food-review"));
    ASSERT_EQ(res.status, 200) << res.body << " (the simulator only knows food-review-1/2)";
    EXPECT_EQ(json::parse(res.body).at("model").as_string(), "food-review");
  }
  const auto s = c.post_streaming("/v1/completions", completion("food-review", 5, true, true));
  const auto events = sse_payloads(s.body);
  ASSERT_EQ(events.size(), 5u + 2u);
  for (std::size_t i = 0; i + 1 < events.size(); ++i)
    EXPECT_EQ(json::parse(events[i]).at("model").as_string(), "food-review");
  EXPECT_EQ(json::parse(events[5]).at("usage").at("completion_tokens").as_int64(), 5);
  EXPECT_EQ(events.back(), "[DONE]");
}

TEST_F(GatewayIT, ChatAndCompletionsStreamedAndNot) {
  auto c = gateway_->client();
  const std::string chat = json::serialize(
      json::object{{"model", "qwen"},
                   {"max_tokens", 3},
                   {"ignore_eos", true},
                   {"messages", json::array{json::object{{"role", "user"}, {"content", "hi"}}}}});
  const auto whole = c.post("/v1/chat/completions", chat);
  ASSERT_EQ(whole.status, 200);
  EXPECT_EQ(json::parse(whole.body).at("usage").at("completion_tokens").as_int64(), 3);
  auto streamed_body = json::parse(chat).as_object();
  streamed_body["stream"] = true;
  const auto streamed = c.post_streaming("/v1/chat/completions", json::serialize(streamed_body));
  ASSERT_EQ(streamed.status, 200);
  EXPECT_EQ(streamed.header("content-type"), "text/event-stream");
  const auto events = sse_payloads(streamed.body);
  ASSERT_EQ(events.size(), 1u + 3u + 1u);
  EXPECT_EQ(events.back(), "[DONE]");
  EXPECT_EQ(c.post("/v1/embeddings", R"({"model":"qwen","input":"abc"})").status, 200);
}

TEST_F(GatewayIT, FirstEventArrivesLongBeforeTheLast) {
  auto c = gateway_->client();
  const auto res = c.post_streaming("/v1/completions", completion("llama", 64, true));
  ASSERT_EQ(res.status, 200);
  ASSERT_GE(res.pieces.size(), 8u);
  EXPECT_LT(res.pieces.front().first.count(), res.pieces.back().first.count() * 0.5);
}

TEST_F(GatewayIT, UsageIsCountedEvenWhenTheClientDidNotAskForIt) {
  auto admin = gateway_->admin();
  auto c = gateway_->client();
  const double before = metric(admin, "infergate_output_tokens_total");
  c.post_streaming("/v1/completions", completion("qwen", 7, true));
  c.post("/v1/completions", completion("qwen", 5));
  // Accounting happens when the handler ends, just after the last byte went out.
  EXPECT_TRUE(until([&] { return metric(admin, "infergate_output_tokens_total") - before == 12; }))
      << metric(admin, "infergate_output_tokens_total") - before;
}

TEST_F(GatewayIT, ErrorsAreOpenAiShaped) {
  auto c = gateway_->client();
  auto check = [&](const HttpResponse& res, int status, const std::string& type) {
    EXPECT_EQ(res.status, status) << res.body;
    const auto body = json::parse(res.body);
    EXPECT_EQ(body.at("error").at("type").as_string(), type) << res.body;
    EXPECT_EQ(body.at("error").at("code").as_int64(), status);
  };
  check(c.post("/v1/completions", "{not json"), 400, "BadRequestError");
  check(c.post("/v1/completions", R"({"prompt":"x"})"), 400, "BadRequestError");
  check(c.post("/v1/completions", completion("nope")), 404, "NotFoundError");
  EXPECT_NE(
      c.post("/v1/completions", completion("nope")).body.find("The model `nope` does not exist."),
      std::string::npos);
  check(c.get("/v1/nothing"), 404, "NotFoundError");
  check(c.post("/v1/completions", completion("ghost")), 503, "ServiceUnavailableError");
  check(c.post("/v1/completions", completion("zombie")), 503, "ServiceUnavailableError");
  // The model server's own errors reach the client as it sent them.
  EXPECT_EQ(
      c.post("/v1/completions", R"({"model":"llama","prompt":"x","max_tokens":999999999})").status,
      400);
  check(c.post("/v1/completions", completion(std::string(70000, 'x'))), 413, "BadRequestError");
}

TEST_F(GatewayIT, KeepAliveReusesTheClientConnection) {
  auto c = gateway_->client();
  for (int i = 0; i < 5; ++i) ASSERT_EQ(c.post("/v1/completions", completion("qwen")).status, 200);
  EXPECT_EQ(c.connections_opened(), 1);
}

TEST_F(GatewayIT, AThousandConcurrentConnections) {
  constexpr int kThreads = 20, kPerThread = 50;
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      std::vector<std::unique_ptr<HttpClient>> clients;
      for (int i = 0; i < kPerThread; ++i) {
        clients.push_back(std::make_unique<HttpClient>("127.0.0.1", gateway_->port));
        clients.back()->send_only("/v1/completions", completion("qwen", 2));
      }
      // All 1,000 connections are open with a request in flight before any answer is read.
      for (auto& c : clients)
        if (c->read_response().status == 200) ++ok;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), kThreads * kPerThread);
}

TEST_F(GatewayIT, ModelsListsDeclaredAndServedModels) {
  auto c = gateway_->client();
  const auto res = c.get("/v1/models");
  ASSERT_EQ(res.status, 200);
  std::set<std::string> ids;
  const auto doc = json::parse(res.body);
  for (const auto& m : doc.at("data").as_array()) ids.insert(std::string(m.at("id").as_string()));
  for (const char* id :
       {"food-review", "llama", "shared", "qwen", "food-review-1", "food-review-2"})
    EXPECT_TRUE(ids.contains(id)) << id << " in " << res.body;
}

TEST_F(GatewayIT, ClientDisconnectStopsTheModelServersWork) {
  auto c = gateway_->client();
  const auto res = c.post_streaming("/v1/completions", completion("qwen", 100000, true),
                                    [](const std::string&) { return false; });
  EXPECT_FALSE(res.complete);
  HttpClient sim("127.0.0.1", replica_ports(qwen_->child.ready_json()).at(0));
  EXPECT_TRUE(until([&] { return metric(sim, "vllm:num_requests_running{") == 0; }));
  EXPECT_GE(metric(sim, "vllm:request_success_total{finished_reason=\"abort\""), 1);
}

TEST(GatewayProcess, AnEndpointKilledMidRunFailsOnlyTheRequestsItWasServing) {
  auto keep = start_sim({"--replicas", "2", "--gpu-profile", "tiny", "--pod-name", "keep"});
  auto doomed = start_sim({"--replicas", "1", "--gpu-profile", "tiny", "--pod-name", "doomed"});
  TempConfig config(
      "apiVersion: infergate.dev/v1alpha1\nkind: StaticEndpoints\nmetadata: {name: e}\nspec:\n  "
      "endpoints:\n" +
      endpoints_yaml("k", "p", *keep) + endpoints_yaml("d", "p", *doomed) + pool_yaml("p"));
  Gateway gw(config.path());
  std::atomic<int> done{0}, failed{0}, failed_after_kill{0}, not_502{0};
  std::atomic<bool> killed{false};
  std::vector<std::thread> clients;
  for (int t = 0; t < 4; ++t) {
    clients.emplace_back([&] {
      auto c = gw.client();
      for (int i = 0; i < 100; ++i) {
        const bool sent_after_kill = killed.load();
        const auto res =
            c.post("/v1/completions", completion("meta-llama/Llama-3.1-8B-Instruct", 20));
        if (res.status != 200) {
          ++failed;
          if (sent_after_kill) ++failed_after_kill;
          if (res.status != 502) ++not_502;
        }
        ++done;
      }
    });
  }
  // Kill the third endpoint once a quarter of the requests are done (bounded wait).
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (done.load() < 100 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::yield();
  EXPECT_GE(done.load(), 100);
  doomed->child.terminate();
  killed = true;
  for (auto& t : clients) t.join();
  EXPECT_EQ(done.load(), 400);
  // Only requests the endpoint had taken when it died may fail (502: they may have begun, so
  // they are not run again elsewhere); every later one goes to the others.
  EXPECT_LE(failed.load(), 4);
  EXPECT_EQ(not_502.load(), 0);
  EXPECT_EQ(failed_after_kill.load(), 0);
}

// HTTPRoute RequestMirror: every request also goes to the mirror pool, whose answer is dropped.
TEST(GatewayProcess, RequestMirrorSendsACopyToTheMirrorPool) {
  auto primary = start_sim({"--replicas", "1", "--gpu-profile", "tiny", "--pod-name", "primary"});
  auto shadow = start_sim({"--replicas", "1", "--gpu-profile", "tiny", "--pod-name", "shadow"});
  TempConfig config(
      "apiVersion: infergate.dev/v1alpha1\nkind: StaticEndpoints\nmetadata: {name: e}\nspec:\n  "
      "endpoints:\n" +
      endpoints_yaml("p", "primary", *primary) + endpoints_yaml("s", "shadow", *shadow) +
      pool_yaml("primary") + pool_yaml("shadow") + R"(---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: mirrored}
spec:
  rules:
  - backendRefs: [)" +
      backend("primary") + R"(]
    filters: [{type: RequestMirror, requestMirror: {backendRef: {group: inference.networking.k8s.io, kind: InferencePool, name: shadow}}}]
)");
  Gateway gw(config.path());
  auto c = gw.client();
  constexpr int kRequests = 10;
  for (int i = 0; i < kRequests; ++i) {
    const auto res = c.post("/v1/completions", completion("meta-llama/Llama-3.1-8B-Instruct", 4));
    ASSERT_EQ(res.status, 200) << res.body;
    EXPECT_EQ(res.header("x-inference-pod").rfind("primary-", 0), 0u)
        << "the client gets the primary's answer";
  }
  HttpClient shadow_metrics("127.0.0.1", replica_ports(shadow->child.ready_json()).front());
  EXPECT_TRUE(until([&] {
    return sample_value(shadow_metrics.get("/metrics").body,
                        "vllm:request_success_total{finished_reason=\"length\"") == kRequests;
  }));
}

TEST(GatewayProcess, UpstreamResponseTimeoutIs504) {
  auto slow = start_sim({"--slowdown", "100"});
  TempConfig config(
      "apiVersion: infergate.dev/v1alpha1\nkind: StaticEndpoints\nmetadata: {name: e}\nspec:\n  "
      "endpoints:\n" +
      endpoints_yaml("s", "p", *slow) + pool_yaml("p"));
  Gateway gw(config.path(), {"--upstream-response-timeout-ms", "300"});
  auto c = gw.client();
  const auto res = c.post("/v1/completions", completion("meta-llama/Llama-3.1-8B-Instruct", 50));
  EXPECT_EQ(res.status, 504) << res.body;
}

TEST(GatewayProcess, RouteRequestTimeoutIs504) {
  auto slow = start_sim({"--slowdown", "100"});
  TempConfig config(
      "apiVersion: infergate.dev/v1alpha1\nkind: StaticEndpoints\nmetadata: {name: e}\nspec:\n  "
      "endpoints:\n" +
      endpoints_yaml("s", "p", *slow) + pool_yaml("p") +
      "---\napiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: "
      "r}\nspec:\n  rules:\n"
      "  - backendRefs: [" +
      backend("p") + "]\n    timeouts: {request: 300ms}\n");
  Gateway gw(config.path());
  auto c = gw.client();
  const auto t0 = std::chrono::steady_clock::now();
  const auto res = c.post("/v1/completions", completion("meta-llama/Llama-3.1-8B-Instruct", 50));
  EXPECT_EQ(res.status, 504) << res.body;
  EXPECT_NE(res.body.find("route's timeout"), std::string::npos);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));
  // The model server stops working on it: the gateway closed the upstream connection.
  HttpClient sim("127.0.0.1", replica_ports(slow->child.ready_json()).at(0));
  EXPECT_TRUE(until([&] { return metric(sim, "vllm:num_requests_running{") == 0; }));
}

TEST(GatewayProcess, ReloadSwapsValidConfigurationsAndKeepsTheOldOnError) {
  auto a = start_sim({"--gpu-profile", "tiny", "--pod-name", "a"});
  auto b = start_sim({"--gpu-profile", "tiny", "--pod-name", "b"});
  const std::string eps =
      "apiVersion: infergate.dev/v1alpha1\nkind: StaticEndpoints\nmetadata: {name: e}\nspec:\n  "
      "endpoints:\n" +
      endpoints_yaml("a", "a", *a) + endpoints_yaml("b", "b", *b) + pool_yaml("a") + pool_yaml("b");
  const auto route_to = [&](const std::string& pool) {
    return eps +
           "---\napiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: "
           "r}\nspec:\n  rules:\n  - backendRefs: [" +
           backend(pool) + "]\n";
  };
  TempConfig config(route_to("a"));
  Gateway gw(config.path(), {"--no-watch-config"});
  auto c = gw.client();
  const std::string model = "meta-llama/Llama-3.1-8B-Instruct";
  EXPECT_EQ(c.post("/v1/completions", completion(model)).header("x-inference-pod"), "a-0");

  config.write(route_to("b"));
  kill(gw.process->child.pid(), SIGHUP);
  EXPECT_TRUE(until([&] {
    return c.post("/v1/completions", completion(model)).header("x-inference-pod") == "b-0";
  }));

  config.write(
      "apiVersion: inference.networking.k8s.io/v1\nkind: InferencePool\nmetadata: {name: x}\nspec: "
      "{bogus: 1}\n");
  auto admin = gw.admin();
  EXPECT_EQ(admin.post("/reload", "").status, 400);
  EXPECT_EQ(c.post("/v1/completions", completion(model)).header("x-inference-pod"), "b-0")
      << "an invalid file leaves the previous configuration in place";
  EXPECT_EQ(metric(admin, "infergate_config_reload_failures_total"), 1);
}

TEST(GatewayProcess, ReloadsWhenTheFileChanges) {
  auto a = start_sim({"--gpu-profile", "tiny", "--pod-name", "a"});
  const std::string base =
      "apiVersion: infergate.dev/v1alpha1\nkind: StaticEndpoints\nmetadata: {name: e}\nspec:\n  "
      "endpoints:\n" +
      endpoints_yaml("a", "a", *a) + pool_yaml("a");
  TempConfig config(base);
  Gateway gw(config.path());
  auto admin = gw.admin();
  config.write(
      base +
      "---\napiVersion: inference.networking.x-k8s.io/v1alpha2\nkind: InferenceModel\nmetadata: "
      "{name: m}\nspec: {modelName: added, poolRef: {name: a}}\n");
  EXPECT_TRUE(
      until([&] { return admin.get("/config").body.find("model added") != std::string::npos; }));
}

// A mounted ConfigMap as kubelet lays it out and updates it: the file is a symlink through
// `..data`, and an update writes a new folder and swaps `..data` to it.
TEST(GatewayProcess, ReloadsWhenKubeletUpdatesAMountedConfigMap) {
  auto a = start_sim({"--gpu-profile", "tiny", "--pod-name", "a"});
  const std::string base =
      "apiVersion: infergate.dev/v1alpha1\nkind: StaticEndpoints\nmetadata: {name: e}\nspec:\n  "
      "endpoints:\n" +
      endpoints_yaml("a", "a", *a) + pool_yaml("a");
  const fs::path dir =
      fs::temp_directory_path() /
      ("infergate-configmap-" + std::to_string(::getpid()) + "-" +
       std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()));
  fs::create_directories(dir / "..2026_12_06_01");
  std::ofstream(dir / "..2026_12_06_01" / "config.yaml") << base;
  fs::create_directory_symlink("..2026_12_06_01", dir / "..data");
  fs::create_symlink("..data/config.yaml", dir / "config.yaml");
  Gateway gw((dir / "config.yaml").string());
  auto admin = gw.admin();

  // Another file in the folder changes too; the update reloads once.
  std::ofstream(dir / "unrelated.txt") << "x";
  // kubelet's update: none of its events names config.yaml.
  fs::create_directories(dir / "..2026_12_06_02");
  std::ofstream(dir / "..2026_12_06_02" / "config.yaml")
      << base +
             "---\napiVersion: inference.networking.x-k8s.io/v1alpha2\nkind: "
             "InferenceModel\nmetadata: {name: m}\nspec: {modelName: added, poolRef: {name: a}}\n";
  fs::create_directory_symlink("..2026_12_06_02", dir / "..data_tmp");
  fs::rename(dir / "..data_tmp", dir / "..data");
  fs::remove_all(dir / "..2026_12_06_01");
  EXPECT_TRUE(
      until([&] { return admin.get("/config").body.find("model added") != std::string::npos; }));
  EXPECT_EQ(metric(admin, "infergate_config_reloads_total"), 1) << "one reload, for the update";
  fs::remove_all(dir);
}

TEST(GatewayProcess, QuietPeriodAfterTheServerClosedIdleConnectionsFailsNoRequest) {
  // The model server closes idle keep-alives after 100 ms (uvicorn: 5 s); the gateway's own
  // pool expiry is set past that, so only noticing closed connections saves the next burst.
  auto a =
      start_sim({"--pod-name", "a", "--gpu-profile", "tiny", "--keep-alive-timeout-ms", "100"});
  TempConfig config(
      "apiVersion: infergate.dev/v1alpha1\nkind: StaticEndpoints\nmetadata: {name: e}\nspec:\n  "
      "endpoints:\n" +
      endpoints_yaml("a", "a", *a) + pool_yaml("a"));
  Gateway gw(config.path(), {"--upstream-pool-idle-timeout-ms", "60000",
                             "--outlier-consecutive-failures", "1", "--no-flow-control"});
  const auto burst = [&] {
    std::vector<std::thread> clients;
    std::atomic<int> ok{0};
    for (int i = 0; i < 4; ++i)
      clients.emplace_back([&] {
        auto c = gw.client();
        for (int j = 0; j < 3; ++j)
          if (c.post("/v1/completions", completion("meta-llama/Llama-3.1-8B-Instruct")).status ==
              200)
            ++ok;
      });
    for (auto& t : clients) t.join();
    return ok.load();
  };
  EXPECT_EQ(burst(), 12);
  std::this_thread::sleep_for(std::chrono::milliseconds(400));  // the quiet period under test
  EXPECT_EQ(burst(), 12);
  auto admin = gw.admin();
  const std::string page = admin.get("/metrics").body;
  EXPECT_EQ(sample_value(page, "infergate_requests_retried_total"), 0);
  EXPECT_EQ(sample_value(page, "infergate_endpoint_ejections_total"), 0);
}

// A model server that accepts connections (the kernel does, from its backlog) and never
// answers: /v1/models must not wait on it beyond one bounded first refresh.
TEST(GatewayProcess, ModelsNeverWaitOnAHungModelServer) {
  const int hung = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(hung, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(hung, 64), 0);
  socklen_t len = sizeof addr;
  ::getsockname(hung, reinterpret_cast<sockaddr*>(&addr), &len);
  auto a = start_sim({"--gpu-profile", "tiny", "--pod-name", "a", "--served-model-name", "alive"});
  TempConfig config(
      "apiVersion: infergate.dev/v1alpha1\nkind: StaticEndpoints\nmetadata: {name: e}\nspec:\n  "
      "endpoints:\n" +
      endpoints_yaml("a", "a", *a) +
      "  - {name: h, address: \"127.0.0.1:" + std::to_string(ntohs(addr.sin_port)) +
      "\", labels: {app: h}}\n" + pool_yaml("a") + pool_yaml("h"));
  Gateway gw(config.path());
  auto c = gw.client();
  const auto timed_get = [&] {
    const auto began = std::chrono::steady_clock::now();
    const auto res = c.get("/v1/models");
    return std::make_pair(res, std::chrono::steady_clock::now() - began);
  };
  const auto [first, first_took] = timed_get();
  ASSERT_EQ(first.status, 200);
  EXPECT_NE(first.body.find("\"alive\""), std::string::npos) << first.body;
  EXPECT_LT(first_took, std::chrono::seconds(4)) << "one bounded refresh at most";
  // Later answers come from the cache while the hung server is asked again in the background.
  for (int i = 0; i < 3; ++i) {
    const auto [res, took] = timed_get();
    EXPECT_EQ(res.status, 200);
    EXPECT_LT(took, std::chrono::milliseconds(500));
  }
  ::close(hung);
}

TEST(GatewayProcess, SigtermDrainsInFlightRequests) {
  auto a = start_sim({"--pod-name", "a"});
  TempConfig config(
      "apiVersion: infergate.dev/v1alpha1\nkind: StaticEndpoints\nmetadata: {name: e}\nspec:\n  "
      "endpoints:\n" +
      endpoints_yaml("a", "a", *a) + pool_yaml("a"));
  Gateway gw(config.path());
  auto c = gw.client();
  bool signalled = false;
  // ~100 decode steps of 7 ms: SIGTERM arrives after the first event, the stream still ends.
  const auto res =
      c.post_streaming("/v1/completions", completion("meta-llama/Llama-3.1-8B-Instruct", 100, true),
                       [&](const std::string&) {
                         if (!signalled) kill(gw.process->child.pid(), SIGTERM);
                         signalled = true;
                         return true;
                       });
  EXPECT_TRUE(res.complete);
  EXPECT_EQ(sse_payloads(res.body).back(), "[DONE]");
  EXPECT_EQ(gw.process->child.terminate(), 0);
}

// The access log as it is by default (JSON on standard output), and a request's ids on their
// way: the client's x-request-id and traceparent reach the model server (the simulator's header
// log says what it received) and the id comes back; the line names them and nothing secret.
TEST(GatewayProcess, AccessLogLineAndIdsReachTheModelServer) {
  const std::string header_log = (fs::temp_directory_path() /
                                  ("infergate-it-headers-" + std::to_string(::getpid()) + ".jsonl"))
                                     .string();
  fs::remove(header_log);
  auto sim = start_sim({"--replicas", "1", "--gpu-profile", "tiny", "--pod-name", "traced",
                        "--header-log", header_log});
  TempConfig config(
      "apiVersion: infergate.dev/v1alpha1\nkind: StaticEndpoints\nmetadata: {name: e}\nspec:\n  "
      "endpoints:\n" +
      endpoints_yaml("t", "traced", *sim) + pool_yaml("traced"));
  Gateway gw(config.path(), {"--access-log"});  // the default: standard output (not /dev/null)
  auto c = gw.client();
  const std::string traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
  const auto res = c.post("/v1/completions", completion("meta-llama/Llama-3.1-8B-Instruct", 3),
                          {{"x-request-id", "it-request-1"},
                           {"traceparent", traceparent},
                           {"tracestate", "vendor=opaque"},
                           {"Authorization", "Bearer it-secret-key"}});
  ASSERT_EQ(res.status, 200) << res.body;
  EXPECT_EQ(res.header("x-request-id"), "it-request-1");

  // Its line on the gateway's standard output: the whole line holding the id.
  const std::string marker = R"("request_id":"it-request-1")";
  std::string before;
  const auto rest = gw.process->child.read_line_after(marker, std::chrono::seconds(10), &before);
  ASSERT_TRUE(rest) << before;
  const auto line_start = before.rfind('\n');
  const std::string line =
      (line_start == std::string::npos ? before : before.substr(line_start + 1)) + marker + *rest;
  const json::object o = json::parse(line).as_object();
  EXPECT_EQ(o.begin()->key(), "time");
  EXPECT_EQ(o.at("trace_id").as_string(), "0af7651916cd43dd8448eb211c80319c");
  EXPECT_EQ(o.at("method").as_string(), "POST");
  EXPECT_EQ(o.at("path").as_string(), "/v1/completions");
  EXPECT_EQ(o.at("model").as_string(), "meta-llama/Llama-3.1-8B-Instruct");
  EXPECT_EQ(o.at("pool").as_string(), "default/traced");
  EXPECT_EQ(o.at("status").as_int64(), 200);
  EXPECT_TRUE(o.at("error").is_null());
  EXPECT_EQ(o.at("attempts").as_int64(), 1);
  EXPECT_EQ(o.at("output_tokens").as_int64(), 3);
  EXPECT_GT(o.at("duration_ms").to_number<double>(), 0);
  EXPECT_EQ(line.find("Hello gateway"), std::string::npos) << "no prompt text: " << line;
  EXPECT_EQ(line.find("it-secret-key"), std::string::npos) << line;

  // What the model server received.
  std::string request_line;
  ASSERT_TRUE(until([&] {
    std::ifstream in(header_log);
    for (std::string l; std::getline(in, l);)
      if (l.find("/v1/completions") != std::string::npos) request_line = l;
    return !request_line.empty();
  }));
  std::map<std::string, std::string> received;
  const json::value request_headers = json::parse(request_line);
  for (const auto& h : request_headers.at("headers").as_array()) {
    std::string name(h.as_array()[0].as_string());
    for (auto& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    received[name] = std::string(h.as_array()[1].as_string());
  }
  EXPECT_EQ(received["x-request-id"], "it-request-1");
  EXPECT_EQ(received["traceparent"], traceparent);
  EXPECT_EQ(received["tracestate"], "vendor=opaque");

  // An error the gateway answers itself carries a drawn id, and has its line too.
  const auto bad = c.post("/v1/completions", "{not json");
  EXPECT_EQ(bad.status, 400);
  const std::string drawn = bad.header("x-request-id");
  EXPECT_EQ(drawn.size(), 32u) << drawn;
  const auto bad_rest = gw.process->child.read_line_after(R"("request_id":")" + drawn + "\"",
                                                          std::chrono::seconds(10), &before);
  ASSERT_TRUE(bad_rest) << before;
  EXPECT_NE(bad_rest->find(R"("status":400)"), std::string::npos) << *bad_rest;

  auto admin = gw.admin();
  EXPECT_TRUE(until([&] { return metric(admin, "infergate_access_log_lines_total") >= 2; }));
  EXPECT_EQ(metric(admin, "infergate_access_log_dropped_total"), 0);
  fs::remove(header_log);
}

TEST(GatewayProcess, InvalidConfigurationExitsNonZeroNamingTheLine) {
  TempConfig config(
      "apiVersion: inference.networking.k8s.io/v1\nkind: InferencePool\nmetadata: {name: "
      "x}\nspec:\n  targetPorts: [{number: 8000}]\n  selector: {matchLabels: {a: b}}\n  colour: "
      "blue\n");
  const Finished run = run_to_exit(INFERGATE_BIN, {"--config", config.path(), "--listen",
                                                   "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"});
  EXPECT_NE(run.status, 0) << run.output;
  EXPECT_NE(run.status, -1) << "exited, not killed: " << run.output;
  // The unknown field is on line 7.
  EXPECT_NE(run.output.find(config.path() + ":7:"), std::string::npos) << run.output;
  EXPECT_NE(run.output.find("colour"), std::string::npos) << run.output;
}

}  // namespace
}  // namespace infergate::testing

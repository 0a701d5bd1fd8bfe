// The endpoint picker (infergate --mode=epp) against an independent implementation of the
// protocol: tests/peers/extproc-client, a Go program on Envoy's generated types
// (go-control-plane), plays Envoy's sequences over gRPC with TLS and checks every reply. The
// picker runs in front of two simulator replicas on their own loopback addresses (127.0.0.2 and
// 127.0.0.3), since a subset hint names endpoints by IP. After each sequence, the picker's
// counters must be back to zero: every request it took in flight was given back, however its
// stream ended.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include "support/gateway_processes.hpp"
#include "support/prometheus_text.hpp"

namespace infergate::testing {
namespace {
namespace fs = std::filesystem;

class ExtProcPicker : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    sim_a = start_sim({"--host", "127.0.0.2", "--gpu-profile", "tiny"}).release();
    sim_b = start_sim({"--host", "127.0.0.3", "--gpu-profile", "tiny"}).release();
    const auto port_a = replica_ports(sim_a->child.ready_json()).at(0);
    const auto port_b = replica_ports(sim_b->child.ready_json()).at(0);
    endpoints = "127.0.0.2:" + std::to_string(port_a) + ",127.0.0.3:" + std::to_string(port_b);
    config = (fs::temp_directory_path() / ("infergate-epp-" + std::to_string(::getpid()) + ".yaml"))
                 .string();
    std::ofstream out(config);
    out << "apiVersion: infergate.dev/v1alpha1\nkind: StaticEndpoints\nmetadata: {name: e}\n"
           "spec:\n  endpoints:\n"
           "  - {name: a, address: \"127.0.0.2:"
        << port_a << "\", labels: {app: p}}\n  - {name: b, address: \"127.0.0.3:" << port_b
        << "\", labels: {app: p}}\n"
        << pool_yaml("p")
        << "---\napiVersion: inference.networking.x-k8s.io/v1alpha2\nkind: InferenceModel\n"
           "metadata: {name: f}\nspec: {modelName: food-review, poolRef: {name: p}, "
           "targetModels: [{name: food-review-1}]}\n"
           "---\napiVersion: inference.networking.x-k8s.io/v1alpha2\nkind: InferenceObjective\n"
           "metadata: {name: batch}\nspec: {priority: -1, poolRef: {name: p}}\n";
    out.close();
    // One request in flight per endpoint saturates the pool: the held streams of the `shed`
    // sequence make a Sheddable request's 429 certain.
    picker = new Process(INFERGATE_BIN,
                         {"--mode", "epp", "--config", config, "--grpc-listen", "127.0.0.1:0",
                          "--grpc-health-listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0",
                          "--workers", "2", "--max-in-flight-per-endpoint", "1", "--max-body-bytes",
                          "2000000", "--scrape-interval-ms", "200"});
    const auto ready = picker->ready();
    port = ready.at("port").to_number<int>();
    admin_port = ready.at("admin_port").to_number<int>();
    health_port = ready.at("health_port").to_number<int>();
  }
  static void TearDownTestSuite() {
    delete picker;
    delete sim_a;
    delete sim_b;
    fs::remove(config);
  }

  // Runs the Go client; true when it exits 0.
  static bool client(const std::string& scenario, const std::string& extra = "") {
    const std::string cmd = std::string(INFERGATE_EXTPROC_CLIENT) +
                            " --addr 127.0.0.1:" + std::to_string(port) + " --scenario " +
                            scenario + " --endpoints " + endpoints + " --timeout 20s " + extra;
    const int status = std::system(cmd.c_str());
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
  }

  // Waits (bounded) until the picker holds nothing: no stream, no endpoint's request.
  static void expect_released() {
    HttpClient admin("127.0.0.1", static_cast<unsigned short>(admin_port));
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    std::string page;
    for (;;) {
      page = admin.get("/metrics").body;
      if (sum_of_samples(page, "infergate_requests_in_flight") == 0 &&
          sum_of_samples(page, "infergate_endpoint_in_flight_requests") == 0 &&
          sum_of_samples(page, "infergate_endpoint_in_flight_tokens") == 0)
        return;
      if (std::chrono::steady_clock::now() > deadline) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));  // polling an observable
    }
    ADD_FAILURE() << "the picker still holds requests:\n" << page;
  }

  static double metric_value(const std::string& family) {
    HttpClient admin("127.0.0.1", static_cast<unsigned short>(admin_port));
    return sum_of_samples(admin.get("/metrics").body, family);
  }

  static inline Process* sim_a = nullptr;
  static inline Process* sim_b = nullptr;
  static inline Process* picker = nullptr;
  static inline std::string config, endpoints;
  static inline int port = 0, admin_port = 0, health_port = 0;
};

TEST_F(ExtProcPicker, HeaderOnlyRequest) {
  EXPECT_TRUE(client("headers-only"));
  expect_released();
}

TEST_F(ExtProcPicker, BodyInManyChunks) {
  const double before = metric_value("infergate_requests_total");
  EXPECT_TRUE(client("chunked"));
  expect_released();
  EXPECT_EQ(metric_value("infergate_requests_total"), before + 1);
}

TEST_F(ExtProcPicker, BodyOverOneMegabyte) {
  EXPECT_TRUE(client("large"));
  expect_released();
}

TEST_F(ExtProcPicker, ModelRewrittenBothWays) {
  EXPECT_TRUE(client("rewrite", "--model food-review --target-model food-review-1"));
  expect_released();
}

TEST_F(ExtProcPicker, SubsetHint) {
  EXPECT_TRUE(client("subset"));
  EXPECT_TRUE(client("subset-empty"));
  expect_released();
}

TEST_F(ExtProcPicker, ShedWhenSaturated) {
  EXPECT_TRUE(client("shed", "--hold 2 --objective batch"));
  expect_released();
}

TEST_F(ExtProcPicker, StreamedResponseWithUsage) {
  const double before = metric_value("infergate_output_tokens_total");
  EXPECT_TRUE(client("sse", "--model food-review --target-model food-review-1"));
  expect_released();
  EXPECT_GT(metric_value("infergate_output_tokens_total"), before);
}

TEST_F(ExtProcPicker, CancelledMidStream) {
  EXPECT_TRUE(client("cancel"));
  expect_released();
}

TEST_F(ExtProcPicker, Trailers) {
  EXPECT_TRUE(client("trailers"));
  expect_released();
}

TEST_F(ExtProcPicker, BufferedMode) {
  EXPECT_TRUE(client("buffered", "--model food-review --target-model food-review-1"));
  expect_released();
}

TEST_F(ExtProcPicker, OversizedBodyGets413) {
  EXPECT_TRUE(client("oversized", "--size 3000000"));
  expect_released();
}

TEST_F(ExtProcPicker, HealthService) {
  const std::string cmd = std::string(INFERGATE_EXTPROC_CLIENT) +
                          " --addr 127.0.0.1:" + std::to_string(health_port) +
                          " --plaintext --scenario health";
  const int status = std::system(cmd.c_str());
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << cmd;
}

}  // namespace
}  // namespace infergate::testing

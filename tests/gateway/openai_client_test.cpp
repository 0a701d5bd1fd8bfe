// Runs the official OpenAI client library (npm package `openai`, installed by
// scripts/install-deps.sh) against a gateway in front of a simulated pool.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "support/child_process.hpp"

namespace infergate::testing {
namespace {

TEST(OpenAiClient, ListChatStreamAndErrors) {
  const std::string dir = INFERGATE_OPENAI_CLIENT_DIR;
  ASSERT_TRUE(std::filesystem::exists(dir + "/node_modules/openai"))
      << "run scripts/install-deps.sh (npm ci in " << dir << ")";
  ChildProcess sim(INFERGATE_SIM_BIN, {"--port", "0", "--replicas", "2", "--gpu-profile", "tiny",
                                       "--enable-lora", "--lora-modules", "food-review-1=/a/1"});
  const auto ports = replica_ports(sim.ready_json());
  const std::string config_path = (std::filesystem::temp_directory_path() /
                                   ("infergate-openai-" + std::to_string(::getpid()) + ".yaml"))
                                      .string();
  {
    std::ofstream out(config_path);
    out << "apiVersion: infergate.dev/v1alpha1\nkind: StaticEndpoints\nmetadata: {name: "
           "e}\nspec:\n  endpoints:\n";
    for (std::size_t i = 0; i < ports.size(); ++i)
      out << "  - {name: s" << i << ", address: \"127.0.0.1:" << ports[i]
          << "\", labels: {app: p}}\n";
    out << "---\napiVersion: inference.networking.k8s.io/v1\nkind: InferencePool\nmetadata: {name: "
           "p}\n"
           "spec: {targetPorts: [{number: 8000}], selector: {matchLabels: {app: p}}}\n"
           "---\napiVersion: inference.networking.x-k8s.io/v1alpha2\nkind: "
           "InferenceModel\nmetadata: {name: f}\n"
           "spec: {modelName: food-review, poolRef: {name: p}, targetModels: [{name: "
           "food-review-1}]}\n";
  }
  ChildProcess gateway(INFERGATE_BIN, {"--config", config_path, "--listen", "127.0.0.1:0",
                                       "--admin-listen", "127.0.0.1:0", "--workers", "1"});
  const std::string& ready = gateway.ready_json();
  const auto port = ready.substr(ready.find(':') + 1, ready.find(',') - ready.find(':') - 1);
  const std::string cmd =
      "INFERGATE_BASE_URL=http://127.0.0.1:" + port + "/v1 node " + dir + "/openai_client_test.mjs";
  const int status = std::system(cmd.c_str());
  std::filesystem::remove(config_path);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << cmd;
}

}  // namespace
}  // namespace infergate::testing

// Kubernetes discovery against a real API server: tests/peers/kube's kube-harness starts etcd and
// kube-apiserver (built from their Go modules) on loopback ports with a fresh CA and token. The
// CRDs are upstream's release manifests (tests/fixtures/manifests); the fleet is Pods without a
// node whose status (podIP on 127.0.0.x, Ready) the test writes, pointing at simulators. The
// gateway runs with --kubeconfig and must follow every change within a bounded time, with the
// requests in flight still served.
//
// The control plane and the API calls: support/kube_cluster.hpp.
#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <chrono>
#include <filesystem>
#include <set>

#include "support/child_process.hpp"
#include "support/http_client.hpp"
#include "support/kube_cluster.hpp"
#include "support/prometheus_text.hpp"

namespace infergate::testing {
namespace {
namespace fs = std::filesystem;
namespace json = boost::json;
using Clock = std::chrono::steady_clock;

// Which endpoint served a completion (the gateway runs with --expose-endpoint-header).
// Each prompt differs, so prefix affinity does not hold requests on one endpoint.
std::string served_by(HttpClient& client) {
  static int n = 0;
  const auto r = client.post("/v1/completions",
                             R"({"model":"meta-llama/Llama-3.1-8B-Instruct","prompt":"request )" +
                                 std::to_string(++n) + R"(","max_tokens":2})",
                             {{"content-type", "application/json"}});
  if (r.status != 200) return "status " + std::to_string(r.status);
  const auto it = r.headers.find("x-gateway-destination-endpoint-served");
  return it == r.headers.end() ? "" : it->second;
}

// Sends requests until the set of endpoints that served the last `window` of them is `want`,
// within `bound`; every request must succeed.
bool converges(HttpClient& client, const std::set<std::string>& want,
               std::chrono::milliseconds bound) {
  const auto deadline = Clock::now() + bound;
  std::vector<std::string> recent;
  while (Clock::now() < deadline) {
    const std::string ep = served_by(client);
    EXPECT_FALSE(ep.empty() || ep.starts_with("status")) << ep;
    recent.push_back(ep);
    if (recent.size() > 8) recent.erase(recent.begin());
    if (recent.size() == 8 && std::set<std::string>(recent.begin(), recent.end()) == want)
      return true;
  }
  return false;
}

TEST(KubeDiscovery, PodsComeAndGoUnderTraffic) {
  const fs::path dir = fs::temp_directory_path() / ("kube-discovery-" + std::to_string(::getpid()));
  KubeCluster cluster(dir, INFERGATE_KUBE_HARNESS, INFERGATE_KUBE_BIN_DIR);
  const std::string fixtures = INFERGATE_FIXTURES_DIR;
  cluster.apply_crd(
      fixtures +
      "/manifests/gie-v1.5.0/config/crd/bases/inference.networking.k8s.io_inferencepools.yaml");
  cluster.wait_served("/apis/inference.networking.k8s.io/v1/inferencepools");
  cluster.call("POST", "/api/v1/namespaces", R"({"metadata":{"name":"serving"}})");

  // Two simulators on their own loopback addresses, the same port (a pool has one target port).
  ChildProcess sim_a(INFERGATE_SIM_BIN,
                     {"--host", "127.0.0.2", "--port", "0", "--gpu-profile", "tiny"});
  const auto port = replica_ports(sim_a.ready_json()).at(0);
  ChildProcess sim_b(INFERGATE_SIM_BIN, {"--host", "127.0.0.3", "--port", std::to_string(port),
                                         "--gpu-profile", "tiny"});
  cluster.call("POST", "/apis/inference.networking.k8s.io/v1/namespaces/serving/inferencepools",
               R"({"apiVersion":"inference.networking.k8s.io/v1","kind":"InferencePool",)"
               R"("metadata":{"name":"llama"},"spec":{"targetPorts":[{"number":)" +
                   std::to_string(port) +
                   R"(}],"selector":{"matchLabels":{"app":"llama"}},)"
                   R"("endpointPickerRef":{"name":"epp","port":{"number":9002}}}})");
  cluster.create_pod("serving", "a", "127.0.0.2", true);

  ChildProcess gateway(
      INFERGATE_BIN,
      {"--kubeconfig", cluster.kubeconfig(), "--listen", "127.0.0.1:0", "--admin-listen",
       "127.0.0.1:0", "--workers", "1", "--expose-endpoint-header", "--scrape-interval-ms", "100"},
      std::chrono::seconds(60));
  const json::object ready = json::parse(gateway.ready_json()).as_object();
  HttpClient client("127.0.0.1", static_cast<unsigned short>(ready.at("port").to_number<int>()));
  const std::string a = "127.0.0.2:" + std::to_string(port);
  const std::string b = "127.0.0.3:" + std::to_string(port);
  EXPECT_EQ(served_by(client), a);

  // Scale up: a second Ready pod joins the picking.
  cluster.create_pod("serving", "b", "127.0.0.3", true);
  EXPECT_TRUE(converges(client, {a, b}, std::chrono::seconds(5)));
  // Not Ready any more: it leaves at once.
  cluster.set_ready("serving", "a", "127.0.0.2", false);
  EXPECT_TRUE(converges(client, {b}, std::chrono::seconds(5)));
  // Deleted: still only b; Ready again after a comes back.
  cluster.call("DELETE", "/api/v1/namespaces/serving/pods/a");
  cluster.create_pod("serving", "a", "127.0.0.2", true);
  EXPECT_TRUE(converges(client, {a, b}, std::chrono::seconds(5)));
  // Each change came through a reload (the same path as a file's).
  HttpClient admin("127.0.0.1",
                   static_cast<unsigned short>(ready.at("admin_port").to_number<int>()));
  EXPECT_GE(sample_value(admin.get("/metrics").body, "infergate_config_reloads_total"), 3);
}

}  // namespace
}  // namespace infergate::testing

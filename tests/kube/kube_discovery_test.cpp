// Kubernetes discovery against a real API server: tests/peers/kube's kube-harness starts etcd and
// kube-apiserver (built from their Go modules) on loopback ports with a fresh CA and token. The
// CRDs are upstream's release manifests (tests/fixtures/manifests); the fleet is Pods without a
// node whose status (podIP on 127.0.0.x, Ready) the test writes, pointing at simulators. The
// gateway runs with --kubeconfig and must follow every change within a bounded time, with the
// requests in flight still served: Pods scaling up and down, how soon a change is seen, a pool's
// selector changing, a model added and removed, the API server restarting, and a watch whose
// version was compacted away (410 Gone) listing again.
//
// One process runs the suite (tests/kube/CMakeLists.txt): the tests share the control plane,
// the simulators and the gateway, and each leaves the fleet as it found it (a and b Ready).
//
// The control plane and the API calls: support/kube_cluster.hpp.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <boost/json.hpp>
#include <chrono>
#include <filesystem>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "common/small_file.hpp"
#include "support/child_process.hpp"
#include "support/http_client.hpp"
#include "support/kube_cluster.hpp"
#include "support/prometheus_text.hpp"

namespace infergate::testing {
namespace {
namespace fs = std::filesystem;
namespace json = boost::json;
using Clock = std::chrono::steady_clock;

// Which endpoint served a completion of `model` (the gateway runs with
// --expose-endpoint-header). Each prompt differs, so prefix affinity does not hold requests on
// one endpoint.
std::string served_by(HttpClient& client,
                      const std::string& model = "meta-llama/Llama-3.1-8B-Instruct") {
  static int n = 0;
  const auto r = client.post("/v1/completions",
                             R"({"model":")" + model + R"(","prompt":"request )" +
                                 std::to_string(++n) + R"(","max_tokens":2})",
                             {{"content-type", "application/json"}});
  if (r.status != 200) return "status " + std::to_string(r.status);
  const auto it = r.headers.find("x-gateway-destination-endpoint-served");
  return it == r.headers.end() ? "" : it->second;
}

// Sends requests until the set of endpoints that served the last 8 of them is `want`, within
// `bound`; every request must succeed.
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

// A test input file, whole ("" when it cannot be read, which the test then fails on).
std::string read_file(const std::string& path) { return read_small_file(path).text.value_or(""); }

class KubeDiscovery : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir = fs::temp_directory_path() / ("kube-discovery-" + std::to_string(::getpid()));
    cluster = new KubeCluster(dir, INFERGATE_KUBE_HARNESS, INFERGATE_KUBE_BIN_DIR);
    const std::string manifests = std::string(INFERGATE_FIXTURES_DIR) + "/manifests/";
    cluster->apply_crd(
        manifests + "gie-v1.5.0/config/crd/bases/inference.networking.k8s.io_inferencepools.yaml");
    cluster->apply_crd(
        manifests +
        "gie-v0.5.1/config/crd/bases/inference.networking.x-k8s.io_inferencemodels.yaml");
    cluster->wait_served("/apis/inference.networking.k8s.io/v1/inferencepools");
    cluster->wait_served("/apis/inference.networking.x-k8s.io/v1alpha2/inferencemodels");
    cluster->call("POST", "/api/v1/namespaces", R"({"metadata":{"name":"serving"}})");

    // Simulators on their own loopback addresses, the same port (a pool has one target port).
    sims.push_back(new ChildProcess(
        INFERGATE_SIM_BIN, {"--host", "127.0.0.2", "--port", "0", "--gpu-profile", "tiny"}));
    port = replica_ports(sims[0]->ready_json()).at(0);
    for (const char* host : {"127.0.0.3", "127.0.0.4"})
      sims.push_back(new ChildProcess(
          INFERGATE_SIM_BIN,
          {"--host", host, "--port", std::to_string(port), "--gpu-profile", "tiny"}));
    a = "127.0.0.2:" + std::to_string(port);
    b = "127.0.0.3:" + std::to_string(port);
    c = "127.0.0.4:" + std::to_string(port);
    cluster->call("POST", "/apis/inference.networking.k8s.io/v1/namespaces/serving/inferencepools",
                  R"({"apiVersion":"inference.networking.k8s.io/v1","kind":"InferencePool",)"
                  R"("metadata":{"name":"llama"},"spec":{"targetPorts":[{"number":)" +
                      std::to_string(port) +
                      R"(}],"selector":{"matchLabels":{"app":"llama"}},)"
                      R"("endpointPickerRef":{"name":"epp","port":{"number":9002}}}})");
    cluster->create_pod("serving", "a", "127.0.0.2", true);

    gateway = new ChildProcess(
        INFERGATE_BIN,
        {"--kubeconfig", cluster->kubeconfig(), "--listen", "127.0.0.1:0", "--admin-listen",
         "127.0.0.1:0", "--workers", "1", "--expose-endpoint-header", "--scrape-interval-ms", "100",
         "--picker-config-map", "serving/epp-config", "--picker-plaintext"},
        std::chrono::seconds(60));
    const json::object ready = json::parse(gateway->ready_json()).as_object();
    client =
        new HttpClient("127.0.0.1", static_cast<unsigned short>(ready.at("port").to_number<int>()));
    admin_port = static_cast<unsigned short>(ready.at("admin_port").to_number<int>());
  }

  static void TearDownTestSuite() {
    delete client;
    delete gateway;
    for (auto* s : sims) delete s;
    sims.clear();
    delete cluster;
  }

  // The endpoints of the pool in the gateway's configuration now (admin /config).
  static std::set<std::string> endpoints() {
    std::set<std::string> out;
    std::stringstream lines(admin_get("/config"));
    for (std::string line; std::getline(lines, line);) {
      if (!line.starts_with("  endpoint ")) continue;
      std::stringstream words(line);
      std::string word, name, address;
      words >> word >> name >> address;
      out.insert(address);
    }
    return out;
  }

  // How long from `start` until the configuration has `want` (polling /config every 2 ms);
  // -1 ms when not within `bound`.
  static std::chrono::milliseconds time_until(const std::set<std::string>& want,
                                              std::chrono::milliseconds bound,
                                              Clock::time_point start = Clock::now()) {
    while (Clock::now() - start < bound) {
      if (endpoints() == want)
        return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
      std::this_thread::sleep_for(std::chrono::milliseconds(2));  // polling an observable
    }
    return std::chrono::milliseconds(-1);
  }

  static bool config_has(const std::string& text, bool want, std::chrono::milliseconds bound) {
    const auto deadline = Clock::now() + bound;
    while (Clock::now() < deadline) {
      if ((admin_get("/config").find(text) != std::string::npos) == want) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));  // polling an observable
    }
    return false;
  }

  // A connection per call: a kept-alive one may have been closed for idling.
  static std::string admin_get(const std::string& path) {
    return HttpClient("127.0.0.1", admin_port).get(path).body;
  }

  static double metric(const std::string& family) {
    return sum_of_samples(admin_get("/metrics"), family);
  }

  static inline fs::path dir;
  static inline KubeCluster* cluster = nullptr;
  static inline std::vector<ChildProcess*> sims;
  static inline ChildProcess* gateway = nullptr;
  static inline HttpClient* client = nullptr;
  static inline unsigned short admin_port = 0;
  static inline int port = 0;
  static inline std::string a, b, c;
};

TEST_F(KubeDiscovery, PodsComeAndGoUnderTraffic) {
  EXPECT_EQ(served_by(*client), a);
  // Scale up: a second Ready pod joins the picking.
  cluster->create_pod("serving", "b", "127.0.0.3", true);
  EXPECT_TRUE(converges(*client, {a, b}, std::chrono::seconds(5)));
  // Not Ready any more: it leaves at once.
  cluster->set_ready("serving", "a", "127.0.0.2", false);
  EXPECT_TRUE(converges(*client, {b}, std::chrono::seconds(5)));
  // Deleted: still only b; Ready again after a comes back.
  cluster->call("DELETE", "/api/v1/namespaces/serving/pods/a");
  cluster->create_pod("serving", "a", "127.0.0.2", true);
  EXPECT_TRUE(converges(*client, {a, b}, std::chrono::seconds(5)));
  // Each change came through a reload (the same path as a file's).
  EXPECT_GE(metric("infergate_config_reloads_total"), 3);
}

// From the change sent to the API server (curl started) to the change in the gateway's
// configuration: 10 changes (b leaving and coming back), within 1 s at the median.
TEST_F(KubeDiscovery, ChangesAreSeenWithinOneSecond) {
  ASSERT_NE(time_until({a, b}, std::chrono::seconds(5)).count(), -1);
  std::vector<long> ms;
  for (int i = 0; i < 10; ++i) {
    const bool ready = i % 2 == 1;
    const auto start = Clock::now();
    cluster->set_ready("serving", "b", "127.0.0.3", ready);
    const auto took = time_until(ready ? std::set<std::string>{a, b} : std::set<std::string>{a},
                                 std::chrono::seconds(5), start);
    EXPECT_NE(took.count(), -1) << "change " << i << " not seen within 5 s";
    ms.push_back(took.count());
  }
  std::vector<long> sorted = ms;
  std::sort(sorted.begin(), sorted.end());
  std::string all;
  for (const long m : ms) all += std::to_string(m) + " ";
  std::printf("discovery from the change sent, ms: %s(median %ld, max %ld)\n", all.c_str(),
              sorted[sorted.size() / 2], sorted.back());
  EXPECT_LT(sorted[sorted.size() / 2], 1000) << all;
}

// A pool whose selector changes takes the Pods the new selector matches and drops the others.
TEST_F(KubeDiscovery, ASelectorChangeMovesThePool) {
  cluster->create_pod("serving", "c", "127.0.0.4", true, "other");
  const auto select = [](const std::string& app) {
    cluster->call("PATCH",
                  "/apis/inference.networking.k8s.io/v1/namespaces/serving/inferencepools/llama",
                  R"({"spec":{"selector":{"matchLabels":{"app":")" + app + R"("}}}})",
                  "application/merge-patch+json");
  };
  select("other");
  EXPECT_NE(time_until({c}, std::chrono::seconds(5)).count(), -1);
  EXPECT_EQ(served_by(*client), c);
  select("llama");
  EXPECT_NE(time_until({a, b}, std::chrono::seconds(5)).count(), -1);
  cluster->call("DELETE", "/api/v1/namespaces/serving/pods/c");
}

// An InferenceModel added rewrites its model; removed, the name passes through again.
TEST_F(KubeDiscovery, AModelIsAddedAndRemoved) {
  cluster->call(
      "POST", "/apis/inference.networking.x-k8s.io/v1alpha2/namespaces/serving/inferencemodels",
      R"({"apiVersion":"inference.networking.x-k8s.io/v1alpha2","kind":"InferenceModel",)"
      R"("metadata":{"name":"reviews"},"spec":{"modelName":"food-review","criticality":"Critical",)"
      R"("poolRef":{"name":"llama"},"targetModels":[{"name":"meta-llama/Llama-3.1-8B-Instruct"}]}})");
  EXPECT_TRUE(config_has("model food-review criticality:Critical", true, std::chrono::seconds(5)));
  const std::string served = served_by(*client, "food-review");
  EXPECT_TRUE(served == a || served == b) << served;
  cluster->call(
      "DELETE",
      "/apis/inference.networking.x-k8s.io/v1alpha2/namespaces/serving/inferencemodels/reviews");
  EXPECT_TRUE(config_has("model food-review", false, std::chrono::seconds(5)));
}

// The API server goes away and comes back: the gateway serves from what it knows meanwhile, and
// its watches resume from the versions they had (nothing listed again), so the next change is
// seen.
TEST_F(KubeDiscovery, AnApiServerRestartResumesTheWatches) {
  const double lists = metric("infergate_kubernetes_lists_total");
  const double gone = metric("infergate_kubernetes_relists_after_gone_total");
  cluster->restart_apiserver();
  EXPECT_TRUE(converges(*client, {a, b}, std::chrono::seconds(5)));
  cluster->set_ready("serving", "b", "127.0.0.3", false);
  EXPECT_NE(time_until({a}, std::chrono::seconds(20)).count(), -1);
  cluster->set_ready("serving", "b", "127.0.0.3", true);
  EXPECT_NE(time_until({a, b}, std::chrono::seconds(5)).count(), -1);
  // A restarted API server's watch cache may begin past a watch's version and answer 410 Gone
  // (then that kind lists again, as it must); any other list would be a broken resume.
  EXPECT_EQ(metric("infergate_kubernetes_lists_total") - lists,
            metric("infergate_kubernetes_relists_after_gone_total") - gone)
      << "watches resumed; a list only after 410 Gone";
}

// etcd compacted past every version the gateway holds, then the watches broken (by a restart):
// each watch from its old version gets 410 Gone, lists again, and changes are seen after.
TEST_F(KubeDiscovery, ACompactedVersionIsListedAgain) {
  const double gone = metric("infergate_kubernetes_relists_after_gone_total");
  cluster->compact();
  cluster->restart_apiserver();
  const auto deadline = Clock::now() + std::chrono::seconds(30);
  while (metric("infergate_kubernetes_relists_after_gone_total") <= gone && Clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // polling an observable
  EXPECT_GT(metric("infergate_kubernetes_relists_after_gone_total"), gone);
  EXPECT_EQ(endpoints(), (std::set<std::string>{a, b})) << "the relist kept the fleet";
  cluster->set_ready("serving", "b", "127.0.0.3", false);
  EXPECT_NE(time_until({a}, std::chrono::seconds(5)).count(), -1);
  cluster->set_ready("serving", "b", "127.0.0.3", true);
  EXPECT_NE(time_until({a, b}, std::chrono::seconds(5)).count(), -1);
}

// The gateway on a ServiceAccount token bound to exactly the RBAC objects the chart ships
// (deploy/manifests/gateway.yaml, the chart's render: every namespace, so a ClusterRole) reads
// everything it needs; with one permission taken away, the error names the verb and the
// resource.
TEST_F(KubeDiscovery, RunsOnTheChartsRbacAndNamesAMissingPermission) {
  cluster->call("POST", "/api/v1/namespaces", R"({"metadata":{"name":"infergate"}})");
  ASSERT_EQ(cluster->apply(
                read_file(std::string(INFERGATE_SOURCE_DIR) + "/deploy/manifests/gateway.yaml"),
                {"ServiceAccount", "ClusterRole", "ClusterRoleBinding"}, "infergate"),
            3);
  const fs::path kubeconfig = dir / "infergate-sa.kubeconfig";
  cluster->write_service_account_kubeconfig("infergate", "infergate", kubeconfig.string());
  const auto check = [&] {
    return run_to_exit(
        INFERGATE_BIN,
        {"--kubeconfig", kubeconfig.string(), "--check-config", "--kube-sync-timeout-ms", "3000"},
        std::chrono::seconds(30));
  };
  const Finished allowed = check();
  EXPECT_EQ(allowed.status, 0) << allowed.output;
  EXPECT_NE(allowed.output.find("endpoint a " + a), std::string::npos) << allowed.output;
  EXPECT_EQ(allowed.output.find("forbidden"), std::string::npos) << allowed.output;

  // Without the Pods rule (the first): the Pods' list is refused, and says so.
  cluster->call("PATCH", "/apis/rbac.authorization.k8s.io/v1/clusterroles/infergate",
                R"([{"op":"remove","path":"/rules/0"}])", "application/json-patch+json");
  const Finished refused = check();
  EXPECT_NE(refused.output.find("forbidden by RBAC (verb list, resource pods/v1)"),
            std::string::npos)
      << refused.output;
  EXPECT_EQ(refused.output.find("endpoint a "), std::string::npos) << refused.output;
}

// An HTTPRoute, its CRD from the Gateway API module (tests/peers/kube/build.sh): a route whose
// parent is this gateway is served, with the defaults the API server fills in; removed, it goes.
TEST_F(KubeDiscovery, AnHttpRouteFromTheGatewayApiCrd) {
  cluster->apply_crd(std::string(INFERGATE_KUBE_BIN_DIR) +
                     "/crds/gateway.networking.k8s.io_httproutes.yaml");
  cluster->wait_served("/apis/gateway.networking.k8s.io/v1/httproutes");
  cluster->call("POST", "/apis/gateway.networking.k8s.io/v1/namespaces/serving/httproutes",
                R"({"apiVersion":"gateway.networking.k8s.io/v1","kind":"HTTPRoute",)"
                R"("metadata":{"name":"llm"},"spec":{"parentRefs":[{"name":"inference-gateway"}],)"
                R"("rules":[{"matches":[{"path":{"type":"PathPrefix","value":"/v1"}}],)"
                R"("backendRefs":[{"group":"inference.networking.k8s.io",)"
                R"("kind":"InferencePool","name":"llama"}]}]}})");
  EXPECT_TRUE(config_has("route serving/llm rule 0", true, std::chrono::seconds(10)))
      << admin_get("/config");
  EXPECT_TRUE(converges(*client, endpoints(), std::chrono::seconds(5)));
  cluster->call("DELETE", "/apis/gateway.networking.k8s.io/v1/namespaces/serving/httproutes/llm");
  EXPECT_TRUE(config_has("route serving/llm", false, std::chrono::seconds(5)));
}

// The EndpointPickerConfig in the ConfigMap named by --picker-config-map (as upstream's chart
// ships it): created, changed and deleted, each change reloaded.
TEST_F(KubeDiscovery, ThePickerConfigMapIsFollowed) {
  const std::string text = read_file(std::string(INFERGATE_FIXTURES_DIR) +
                                     "/manifests/gie-v1.5.0/extracted-from-docs/"
                                     "endpointpickerconfig-prefix-cache-minimal.yaml");
  const auto config_map = [&](const std::string& weight) {
    std::string yaml = text;
    yaml.replace(yaml.find("weight: 50"), 10, "weight: " + weight);
    json::object cm{{"apiVersion", "v1"},
                    {"kind", "ConfigMap"},
                    {"metadata", {{"name", "epp-config"}}},
                    {"data", {{"default-plugins.yaml", yaml}}}};
    return json::serialize(cm);
  };
  EXPECT_TRUE(config_has("picker profile", false, std::chrono::seconds(1)));
  cluster->call("POST", "/api/v1/namespaces/serving/configmaps", config_map("50"));
  EXPECT_TRUE(
      config_has("picker profile default: prefix-cache-scorer*50", true, std::chrono::seconds(5)))
      << admin_get("/config");
  cluster->call("PUT", "/api/v1/namespaces/serving/configmaps/epp-config", config_map("7"));
  EXPECT_TRUE(
      config_has("picker profile default: prefix-cache-scorer*7", true, std::chrono::seconds(5)))
      << admin_get("/config");
  // Another ConfigMap is none of the gateway's business.
  cluster->call("POST", "/api/v1/namespaces/serving/configmaps",
                R"({"metadata":{"name":"unrelated"},"data":{"x":"kind: EndpointPickerConfig"}})");
  EXPECT_TRUE(converges(*client, endpoints(), std::chrono::seconds(5)));
  cluster->call("DELETE", "/api/v1/namespaces/serving/configmaps/epp-config");
  EXPECT_TRUE(config_has("picker profile", false, std::chrono::seconds(5)));
}

// Not Ready until every kind was listed; then ready, with the watches' counters on /metrics.
// The endpoint picker the pool names is called at its Service (issue 18): here an ExternalName
// Service for localhost in front of InferGate's own picker, on the same API server and pool.
// The Service gone, the gateway picks again.
TEST_F(KubeDiscovery, ThePoolsPickerIsCalledAtItsService) {
  ChildProcess picker(
      INFERGATE_BIN,
      {"--mode", "epp", "--kubeconfig", cluster->kubeconfig(), "--pool-name", "llama",
       "--pool-namespace", "serving", "--grpc-listen", "127.0.0.1:0", "--grpc-health-listen", "",
       "--admin-listen", "127.0.0.1:0", "--workers", "1", "--plaintext", "--no-access-log"},
      std::chrono::seconds(60));
  const json::object ready = json::parse(picker.ready_json()).as_object();
  const std::string picker_port = std::to_string(ready.at("port").to_number<int>());
  HttpClient picker_admin("127.0.0.1",
                          static_cast<unsigned short>(ready.at("admin_port").to_number<int>()));
  const auto set_picker_port = [&](const std::string& p) {
    cluster->call("PATCH",
                  "/apis/inference.networking.k8s.io/v1/namespaces/serving/inferencepools/llama",
                  R"({"spec":{"endpointPickerRef":{"name":"epp","port":{"number":)" + p + "}}}}",
                  "application/merge-patch+json");
  };
  set_picker_port(picker_port);
  cluster->call("POST", "/api/v1/namespaces/serving/services",
                R"({"metadata":{"name":"epp"},"spec":{"type":"ExternalName",)"
                R"("externalName":"localhost"}})");
  EXPECT_TRUE(
      config_has("endpointPicker: epp at localhost:" + picker_port, true, std::chrono::seconds(10)))
      << admin_get("/config");
  const auto picker_requests = [&] {
    return sum_of_samples(picker_admin.get("/metrics").body, "infergate_requests_total");
  };
  const double before = picker_requests();
  // Pods a and b are both ready and idle: the picker breaks the tie at random.
  const std::string served = served_by(*client);
  EXPECT_TRUE(served == a || served == b) << served;
  const auto deadline = Clock::now() + std::chrono::seconds(10);
  while (picker_requests() < before + 1 && Clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // polling an observable
  EXPECT_EQ(picker_requests(), before + 1) << "the request did not go through the picker";

  cluster->call("DELETE", "/api/v1/namespaces/serving/services/epp");
  EXPECT_TRUE(config_has("endpointPicker: epp (ignored", true, std::chrono::seconds(10)))
      << admin_get("/config");
  set_picker_port("9002");
  EXPECT_TRUE(converges(*client, endpoints(), std::chrono::seconds(5)));
}

TEST_F(KubeDiscovery, ReadyOnceSyncedWithWatchMetrics) {
  EXPECT_EQ(HttpClient("127.0.0.1", admin_port).get("/readyz").status, 200);
  const std::string page = admin_get("/metrics");
  EXPECT_EQ(sample_value(page, "infergate_kubernetes_synced"), 1);
  EXPECT_GE(sample_value(page, "infergate_kubernetes_lists_total{resource=\"pods/v1\"}"), 1);
}

}  // namespace
}  // namespace infergate::testing

// Status written back against the real API server (support/kube_cluster.hpp), by two replicas
// serving the same Gateway: conditions on HTTPRoutes (one to a pool, one to a missing pool, one
// to another Gateway) and on InferencePools (v1 with Ready Pods, v1 whose selector matches
// nothing, v1alpha2 with its placeholder), another controller's entries kept; only the Lease's
// holder writes, the other takes over when it is killed, and both serve traffic all along.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <chrono>
#include <filesystem>
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

constexpr const char* kController = "infergate.dev/gateway-controller";

struct Replica {
  std::unique_ptr<ChildProcess> process;
  unsigned short port = 0, admin_port = 0;

  double metric(const std::string& family) const {
    return sum_of_samples(HttpClient("127.0.0.1", admin_port).get("/metrics").body, family);
  }
  int serve() const {
    return HttpClient("127.0.0.1", port)
        .post("/v1/completions",
              R"({"model":"meta-llama/Llama-3.1-8B-Instruct","prompt":"hi","max_tokens":2})",
              {{"content-type", "application/json"}})
        .status;
  }
};

class KubeStatus : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir = fs::temp_directory_path() / ("kube-status-" + std::to_string(::getpid()));
    cluster = new KubeCluster(dir, INFERGATE_KUBE_HARNESS, INFERGATE_KUBE_BIN_DIR);
    const std::string manifests = std::string(INFERGATE_FIXTURES_DIR) + "/manifests/";
    cluster->apply_crd(
        manifests + "gie-v1.5.0/config/crd/bases/inference.networking.k8s.io_inferencepools.yaml");
    cluster->apply_crd(
        manifests +
        "gie-v0.5.1/config/crd/bases/inference.networking.x-k8s.io_inferencepools.yaml");
    cluster->apply_crd(std::string(INFERGATE_KUBE_BIN_DIR) +
                       "/crds/gateway.networking.k8s.io_httproutes.yaml");
    cluster->wait_served("/apis/inference.networking.k8s.io/v1/inferencepools");
    cluster->wait_served("/apis/inference.networking.x-k8s.io/v1alpha2/inferencepools");
    cluster->wait_served("/apis/gateway.networking.k8s.io/v1/httproutes");
    cluster->call("POST", "/api/v1/namespaces", R"({"metadata":{"name":"serving"}})");

    sim = new ChildProcess(INFERGATE_SIM_BIN,
                           {"--host", "127.0.0.2", "--port", "0", "--gpu-profile", "tiny"});
    const std::string port = std::to_string(replica_ports(sim->ready_json()).at(0));
    const auto pool = [&](const std::string& name, const std::string& app) {
      cluster->call("POST",
                    "/apis/inference.networking.k8s.io/v1/namespaces/serving/inferencepools",
                    R"({"apiVersion":"inference.networking.k8s.io/v1","kind":"InferencePool",)"
                    R"("metadata":{"name":")" +
                        name + R"("},"spec":{"targetPorts":[{"number":)" + port +
                        R"(}],"selector":{"matchLabels":{"app":")" + app +
                        R"("}},"endpointPickerRef":{"name":"epp","port":{"number":9002}}}})");
    };
    pool("llama", "llama");
    pool("empty", "nothing");
    cluster->call(
        "POST", "/apis/inference.networking.x-k8s.io/v1alpha2/namespaces/serving/inferencepools",
        R"({"apiVersion":"inference.networking.x-k8s.io/v1alpha2","kind":"InferencePool",)"
        R"("metadata":{"name":"old"},"spec":{"targetPortNumber":)" +
            port + R"(,"selector":{"app":"llama"},"extensionRef":{"name":"epp"}}})");
    cluster->create_pod("serving", "a", "127.0.0.2", true);
    route("r-llama", "inference-gateway", "inference.networking.k8s.io", "llama");
    route("r-ghost", "inference-gateway", "inference.networking.k8s.io", "ghost");
    route("r-empty", "inference-gateway", "inference.networking.k8s.io", "empty");
    route("r-old", "inference-gateway", "inference.networking.x-k8s.io", "old");
    route("r-theirs", "another-gateway", "inference.networking.k8s.io", "llama");
    // Another controller's entry on a route: kept as it is.
    json::object r = json::parse(cluster->call("GET",
                                               "/apis/gateway.networking.k8s.io/v1/namespaces/"
                                               "serving/httproutes/r-llama"))
                         .as_object();
    r["status"] = json::parse(
        R"({"parents":[{"parentRef":{"name":"elsewhere"},"controllerName":"example.com/other",)"
        R"("conditions":[{"type":"Accepted","status":"True","reason":"Accepted","message":"",)"
        R"("lastTransitionTime":"2026-01-01T00:00:00Z"}]}]})");
    cluster->call("PUT",
                  "/apis/gateway.networking.k8s.io/v1/namespaces/serving/httproutes/r-llama/status",
                  json::serialize(r));

    // The replicas run on exactly the RBAC objects the chart ships for a gateway that writes
    // status (deploy/manifests/gateway.yaml): its ClusterRole, and its Lease's Role in the
    // release's namespace.
    cluster->call("POST", "/api/v1/namespaces", R"({"metadata":{"name":"infergate"}})");
    const std::string chart =
        read_small_file(std::string(INFERGATE_SOURCE_DIR) + "/deploy/manifests/gateway.yaml")
            .text.value_or("");
    const int applied = cluster->apply(
        chart, {"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"},
        "infergate");
    EXPECT_EQ(applied, 5);
    kubeconfig = (dir / "infergate-sa.kubeconfig").string();
    cluster->write_service_account_kubeconfig("infergate", "infergate", kubeconfig);

    for (int i = 0; i < 2; ++i) replicas[i] = start_replica();
  }

  static void TearDownTestSuite() {
    for (auto& r : replicas) r.process.reset();
    delete sim;
    delete cluster;
  }

  // A route matching requests with the header `x-route: <name>`, but for r-llama, which takes
  // the rest.
  static void route(const std::string& name, const std::string& gateway, const std::string& group,
                    const std::string& pool) {
    const std::string matches =
        name == "r-llama"
            ? ""
            : R"("matches":[{"headers":[{"name":"x-route","value":")" + name + R"("}]}],)";
    cluster->call("POST", "/apis/gateway.networking.k8s.io/v1/namespaces/serving/httproutes",
                  R"({"apiVersion":"gateway.networking.k8s.io/v1","kind":"HTTPRoute",)"
                  R"("metadata":{"name":")" +
                      name + R"("},"spec":{"parentRefs":[{"name":")" + gateway +
                      R"("}],"rules":[{)" + matches + R"("backendRefs":[{"group":")" + group +
                      R"(","kind":"InferencePool","name":")" + pool + R"("}]}]}})");
  }

  static Replica start_replica() {
    Replica r;
    r.process = std::make_unique<ChildProcess>(
        INFERGATE_BIN,
        std::vector<std::string>{"--kubeconfig", kubeconfig, "--gateway",
                                 "serving/inference-gateway", "--lease-namespace", "infergate",
                                 "--lease-duration-ms", "3000", "--listen", "127.0.0.1:0",
                                 "--admin-listen", "127.0.0.1:0", "--workers", "1",
                                 "--scrape-interval-ms", "200"},
        std::chrono::seconds(60));
    const json::object ready = json::parse(r.process->ready_json()).as_object();
    r.port = static_cast<unsigned short>(ready.at("port").to_number<int>());
    r.admin_port = static_cast<unsigned short>(ready.at("admin_port").to_number<int>());
    return r;
  }

  static json::object get(const std::string& path) {
    return json::parse(cluster->call("GET", path)).as_object();
  }

  // The status list `field` of the object at `path`, once `ready` holds for it (bounded).
  static json::array wait_status(const std::string& path, const std::string& field,
                                 const std::function<bool(const json::array&)>& ready) {
    const auto deadline = Clock::now() + std::chrono::seconds(15);
    json::array last;
    while (Clock::now() < deadline) {
      const json::object o = get(path);
      const json::value* s = o.if_contains("status");
      const json::value* list = s && s->is_object() ? s->as_object().if_contains(field) : nullptr;
      last = list && list->is_array() ? list->as_array() : json::array();
      if (ready(last)) return last;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));  // polling an observable
    }
    ADD_FAILURE() << path << ": status." << field << " never got there: " << json::serialize(last);
    return last;
  }

  static std::string holder() {
    const json::object lease =
        get("/apis/coordination.k8s.io/v1/namespaces/infergate/leases/"
            "infergate-status-inference-gateway");
    return std::string(lease.at("spec").at("holderIdentity").as_string());
  }

  static inline fs::path dir;
  static inline std::string kubeconfig;  // the chart's ServiceAccount's
  static inline KubeCluster* cluster = nullptr;
  static inline ChildProcess* sim = nullptr;
  static inline Replica replicas[2];
};

const json::object* ours(const json::array& parents) {
  for (const json::value& p : parents)
    if (p.at("controllerName").as_string() == kController) return &p.as_object();
  return nullptr;
}

std::string condition(const json::object& entry, const std::string& type) {
  for (const json::value& c : entry.at("conditions").as_array())
    if (c.at("type").as_string() == type)
      return std::string(c.at("status").as_string()) + "/" +
             std::string(c.at("reason").as_string());
  return "missing";
}

const std::string kRoutes = "/apis/gateway.networking.k8s.io/v1/namespaces/serving/httproutes/";
const std::string kPools =
    "/apis/inference.networking.k8s.io/v1/namespaces/serving/inferencepools/";

TEST_F(KubeStatus, RoutesGetTheirConditionsAndOtherControllersEntriesStay) {
  const json::array llama = wait_status(kRoutes + "r-llama", "parents", [](const json::array& p) {
    return ours(p) && p.size() == 2;
  });
  ASSERT_TRUE(ours(llama));
  EXPECT_EQ(condition(*ours(llama), "Accepted"), "True/Accepted");
  EXPECT_EQ(condition(*ours(llama), "ResolvedRefs"), "True/ResolvedRefs");
  EXPECT_EQ(ours(llama)->at("parentRef").at("name").as_string(), "inference-gateway");
  EXPECT_EQ(llama.size(), 2u) << "example.com/other's entry is kept";

  const json::array ghost = wait_status(kRoutes + "r-ghost", "parents",
                                        [](const json::array& p) { return ours(p) != nullptr; });
  ASSERT_TRUE(ours(ghost));
  EXPECT_EQ(condition(*ours(ghost), "Accepted"), "True/Accepted");
  EXPECT_EQ(condition(*ours(ghost), "ResolvedRefs"), "False/BackendNotFound");

  // Another Gateway's route: never ours (checked once ours are written elsewhere).
  const json::object theirs = get(kRoutes + "r-theirs");
  const json::value* status = theirs.if_contains("status");
  const json::value* parents =
      status && status->is_object() ? status->as_object().if_contains("parents") : nullptr;
  EXPECT_TRUE(!parents || !parents->is_array() || !ours(parents->as_array()));
}

TEST_F(KubeStatus, PoolsGetTheirConditionsInBothVersions) {
  const json::array llama = wait_status(kPools + "llama", "parents",
                                        [](const json::array& p) { return ours(p) != nullptr; });
  ASSERT_TRUE(ours(llama));
  EXPECT_EQ(condition(*ours(llama), "Accepted"), "True/Accepted");
  EXPECT_EQ(condition(*ours(llama), "ResolvedRefs"), "True/ResolvedRefs");
  EXPECT_EQ(ours(llama)->at("parentRef").at("kind").as_string(), "Gateway");
  EXPECT_NE(json::serialize(*ours(llama)).find("1 Ready Pod(s)"), std::string::npos);

  const json::array empty = wait_status(kPools + "empty", "parents",
                                        [](const json::array& p) { return ours(p) != nullptr; });
  ASSERT_TRUE(ours(empty));
  EXPECT_NE(json::serialize(*ours(empty)).find("no Ready Pod matches its selector"),
            std::string::npos);

  // v1alpha2: status.parent[], the placeholder `kind: Status, name: default` gone.
  const json::array old = wait_status(
      "/apis/inference.networking.x-k8s.io/v1alpha2/namespaces/serving/inferencepools/old",
      "parent", [](const json::array& p) {
        return p.size() == 1 && p[0].at("parentRef").at("name").as_string() == "inference-gateway";
      });
  ASSERT_EQ(old.size(), 1u) << json::serialize(old);
  EXPECT_EQ(old[0].at("parentRef").at("kind").as_string(), "Gateway");
}

TEST_F(KubeStatus, OneWriterTheOtherTakesOverAndBothServe) {
  // Exactly one holds the Lease; the other has written nothing.
  const auto deadline = Clock::now() + std::chrono::seconds(15);
  while (replicas[0].metric("infergate_kubernetes_status_leader") +
                 replicas[1].metric("infergate_kubernetes_status_leader") !=
             1 &&
         Clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // polling an observable
  const int leader = replicas[0].metric("infergate_kubernetes_status_leader") == 1 ? 0 : 1;
  const int other = 1 - leader;
  ASSERT_EQ(replicas[leader].metric("infergate_kubernetes_status_leader"), 1);
  EXPECT_EQ(replicas[other].metric("infergate_kubernetes_status_leader"), 0);
  EXPECT_GE(replicas[leader].metric("infergate_kubernetes_status_rounds_total"), 1);
  EXPECT_EQ(replicas[other].metric("infergate_kubernetes_status_rounds_total"), 0);
  EXPECT_TRUE(holder().ends_with("_" + std::to_string(replicas[leader].process->pid())))
      << holder();
  EXPECT_EQ(replicas[leader].serve(), 200);
  EXPECT_EQ(replicas[other].serve(), 200);

  // The holder dies without giving the Lease up: the other takes it within the Lease's
  // duration (3 s) and a retry, serving all along.
  replicas[leader].process->signal(SIGKILL);
  const auto killed = Clock::now();
  while (replicas[other].metric("infergate_kubernetes_status_leader") != 1 &&
         Clock::now() - killed < std::chrono::seconds(15)) {
    EXPECT_EQ(replicas[other].serve(), 200);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // polling an observable
  }
  const auto took =
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - killed).count();
  std::printf("status Lease taken over %lld ms after its holder was killed\n",
              static_cast<long long>(took));
  EXPECT_EQ(replicas[other].metric("infergate_kubernetes_status_leader"), 1);
  EXPECT_LT(took, 3000 + 2000);
  EXPECT_TRUE(holder().ends_with("_" + std::to_string(replicas[other].process->pid())));

  // The new holder writes: a new route gets its status.
  route("r-late", "inference-gateway", "inference.networking.k8s.io", "llama");
  const json::array late = wait_status(kRoutes + "r-late", "parents",
                                       [](const json::array& p) { return ours(p) != nullptr; });
  EXPECT_TRUE(ours(late));
  EXPECT_EQ(replicas[other].serve(), 200);
}

}  // namespace
}  // namespace infergate::testing

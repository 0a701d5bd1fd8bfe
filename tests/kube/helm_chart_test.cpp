// The Helm chart (deploy/helm/infergate) checked with Helm itself, built from its Go module
// (tests/peers/helm), and against the real API server (support/kube_cluster.hpp): it lints and
// renders in both modes, the plain manifests in deploy/manifests are its current render, bad
// values fail with a message, and every rendered object passes the API server's validation and
// admission in a server-side dry run. (The discovery tests run the gateway on the chart's RBAC
// objects, applied for real.)
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <vector>

#include "common/small_file.hpp"
#include "support/child_process.hpp"
#include "support/kube_cluster.hpp"

namespace infergate::testing {
namespace {
namespace fs = std::filesystem;

const std::string kChart = std::string(INFERGATE_SOURCE_DIR) + "/deploy/helm/infergate";

std::string read(const std::string& path) { return read_small_file(path).text.value_or(""); }

class HelmChart : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir = fs::temp_directory_path() / ("helm-chart-" + std::to_string(::getpid()));
    fs::create_directories(dir);
  }
  static void TearDownTestSuite() {
    delete cluster;
    cluster = nullptr;
    std::error_code ignored;
    fs::remove_all(dir, ignored);
  }

  // Runs helm with `args`, its caches and configuration under the test's directory.
  static Finished helm(const std::string& args) {
    const std::string home = (dir / "helm-home").string();
    return run_to_exit(
        "/bin/sh",
        {"-c", "HELM_CACHE_HOME=" + home + "/cache HELM_CONFIG_HOME=" + home +
                   "/config HELM_DATA_HOME=" + home + "/data '" + INFERGATE_HELM + "' " + args},
        std::chrono::seconds(60));
  }

  // `helm template` as deploy/manifests/render.sh runs it.
  static std::string render(const std::string& extra = "") {
    const Finished done =
        helm("template infergate '" + kChart + "' --namespace infergate " + extra);
    EXPECT_EQ(done.status, 0) << done.output;
    return "# Rendered from deploy/helm/infergate by deploy/manifests/render.sh: edit the chart, "
           "not this.\n" +
           done.output;
  }

  static inline fs::path dir;
  static inline KubeCluster* cluster = nullptr;
};

const std::string kGatewayValues = "--set kubernetes.gateway=infergate/inference-gateway";
const std::string kEppValues =
    "--set mode=epp --set pool.name=vllm-llama3-8b-instruct "
    "--set kubernetes.pickerConfigMap=epp-config";

TEST_F(HelmChart, LintsInBothModes) {
  for (const std::string& values : std::vector<std::string>{
           "", kGatewayValues, kEppValues,
           "--set autoscaling.enabled=true --set serviceMonitor.enabled=true"}) {
    const Finished lint = helm("lint --strict '" + kChart + "' " + values);
    EXPECT_EQ(lint.status, 0) << values << "\n" << lint.output;
  }
}

TEST_F(HelmChart, ThePlainManifestsAreItsCurrentRender) {
  const std::string manifests = std::string(INFERGATE_SOURCE_DIR) + "/deploy/manifests/";
  EXPECT_EQ(read(manifests + "gateway.yaml"), render(kGatewayValues))
      << "deploy/manifests/gateway.yaml is stale: HELM=build/helm/helm deploy/manifests/render.sh";
  EXPECT_EQ(read(manifests + "epp.yaml"), render(kEppValues))
      << "deploy/manifests/epp.yaml is stale: HELM=build/helm/helm deploy/manifests/render.sh";
}

TEST_F(HelmChart, BadValuesFailWithAMessage) {
  const Finished no_pool = helm("template x '" + kChart + "' --set mode=epp");
  EXPECT_NE(no_pool.status, 0);
  EXPECT_NE(no_pool.output.find("mode epp needs pool.name"), std::string::npos) << no_pool.output;
  const Finished bad_mode = helm("template x '" + kChart + "' --set mode=proxy");
  EXPECT_NE(bad_mode.status, 0);
  EXPECT_NE(bad_mode.output.find("mode must be gateway or epp"), std::string::npos)
      << bad_mode.output;
}

// Every object of both renders (the optional HorizontalPodAutoscaler too) passes the API
// server's validation and admission in a server-side dry run; the ServiceMonitor is left out, its
// CRD being the Prometheus Operator's.
TEST_F(HelmChart, EveryObjectPassesAServerSideDryRun) {
  cluster = new KubeCluster(dir / "kube", INFERGATE_KUBE_HARNESS, INFERGATE_KUBE_BIN_DIR);
  cluster->call("POST", "/api/v1/namespaces", R"({"metadata":{"name":"infergate"}})");
  int checked = 0;
  for (const std::string& values :
       std::vector<std::string>{kGatewayValues + " --set autoscaling.enabled=true", kEppValues})
    checked += cluster->apply(
        render(values),
        {"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding", "ConfigMap",
         "Service", "Deployment", "PodDisruptionBudget", "HorizontalPodAutoscaler"},
        "infergate", /*dry_run=*/true);
  EXPECT_GE(checked, 14);
}

}  // namespace
}  // namespace infergate::testing

// Finding the API server and credentials: kubeconfig contexts, inline and file data, the
// refusals (exec plugins, http://, half a client certificate), and a Pod's service account.
#include "kube/kubeconfig.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace infergate::kube {
namespace {
namespace fs = std::filesystem;

struct TempDir {
  TempDir() : path(fs::temp_directory_path() / ("kubeconfig-" + std::to_string(::getpid()))) {
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
  std::string write(const std::string& name, const std::string& text) const {
    std::ofstream(path / name) << text;
    return (path / name).string();
  }
  fs::path path;
};

const char* kConfig = R"(apiVersion: v1
kind: Config
current-context: dev
clusters:
- name: local
  cluster:
    server: https://127.0.0.1:6443/
    certificate-authority-data: Q0EgUEVN
- name: other
  cluster:
    server: https://10.0.0.1:443
    certificate-authority: ca.crt
    tls-server-name: kubernetes
contexts:
- name: dev
  context: {cluster: local, user: alice, namespace: team-a}
- name: prod
  context: {cluster: other, user: bob}
- name: gke
  context: {cluster: other, user: gcloud}
users:
- name: alice
  user: {token: sekret}
- name: bob
  user:
    client-certificate: bob.crt
    client-key-data: S0VZ
- name: gcloud
  user:
    exec: {apiVersion: client.authentication.k8s.io/v1beta1, command: gke-gcloud-auth-plugin}
)";

TEST(Kubeconfig, CurrentContextWithInlineData) {
  TempDir dir;
  const auto r = load_kubeconfig(dir.write("config", kConfig));
  ASSERT_TRUE(std::holds_alternative<ClusterAccess>(r)) << std::get<std::string>(r);
  const auto& a = std::get<ClusterAccess>(r);
  EXPECT_EQ(a.server, "https://127.0.0.1:6443");
  EXPECT_EQ(a.ca_pem, "CA PEM");
  EXPECT_EQ(a.token, "sekret");
  EXPECT_EQ(a.ns, "team-a");
}

TEST(Kubeconfig, NamedContextWithFilesRelativeToTheKubeconfig) {
  TempDir dir;
  dir.write("ca.crt", "the CA");
  dir.write("bob.crt", "bob's certificate");
  const auto r = load_kubeconfig(dir.write("config", kConfig), "prod");
  ASSERT_TRUE(std::holds_alternative<ClusterAccess>(r)) << std::get<std::string>(r);
  const auto& a = std::get<ClusterAccess>(r);
  EXPECT_EQ(a.server, "https://10.0.0.1:443");
  EXPECT_EQ(a.ca_pem, "the CA");
  EXPECT_EQ(a.tls_server_name, "kubernetes");
  EXPECT_EQ(a.client_cert_pem, "bob's certificate");
  EXPECT_EQ(a.client_key_pem, "KEY");
  EXPECT_EQ(a.ns, "default");
}

TEST(Kubeconfig, RefusalsSayWhy) {
  TempDir dir;
  const std::string path = dir.write("config", kConfig);
  const auto exec = load_kubeconfig(path, "gke");
  ASSERT_TRUE(std::holds_alternative<std::string>(exec));
  EXPECT_NE(std::get<std::string>(exec).find("exec credential plugins are not supported"),
            std::string::npos);
  const auto missing_file = load_kubeconfig(path, "prod");  // ca.crt not written
  ASSERT_TRUE(std::holds_alternative<std::string>(missing_file));
  EXPECT_NE(std::get<std::string>(missing_file).find("ca.crt"), std::string::npos);
  const auto unknown = load_kubeconfig(path, "nope");
  ASSERT_TRUE(std::holds_alternative<std::string>(unknown));
  EXPECT_NE(std::get<std::string>(unknown).find("no context named nope"), std::string::npos);

  const auto plain = load_kubeconfig(
      dir.write("plain",
                "current-context: c\nclusters: [{name: k, cluster: {server: 'http://h:8080'}}]\n"
                "contexts: [{name: c, context: {cluster: k}}]\n"));
  ASSERT_TRUE(std::holds_alternative<std::string>(plain));
  EXPECT_NE(std::get<std::string>(plain).find("https://"), std::string::npos);
}

TEST(Kubeconfig, InClusterFromTheServiceAccount) {
  TempDir dir;
  dir.write("token", "pod-token");
  dir.write("ca.crt", "cluster CA");
  dir.write("namespace", "serving\n");
  const EnvLookup env = [](const std::string& name) -> std::optional<std::string> {
    if (name == "KUBERNETES_SERVICE_HOST") return "fd00::1";
    if (name == "KUBERNETES_SERVICE_PORT") return "443";
    return std::nullopt;
  };
  const auto r = in_cluster(env, dir.path.string());
  ASSERT_TRUE(std::holds_alternative<ClusterAccess>(r)) << std::get<std::string>(r);
  const auto& a = std::get<ClusterAccess>(r);
  EXPECT_EQ(a.server, "https://[fd00::1]:443");
  EXPECT_EQ(a.token_file, dir.path.string() + "/token");
  EXPECT_EQ(a.ca_pem, "cluster CA");
  EXPECT_EQ(a.ns, "serving");
  const auto outside = in_cluster([](const std::string&) { return std::nullopt; });
  EXPECT_TRUE(std::holds_alternative<std::string>(outside));
}

TEST(Kubeconfig, Base64) {
  EXPECT_EQ(decode_base64("aGVsbG8="), "hello");
  EXPECT_EQ(decode_base64("aGVsbG8h"), "hello!");
  EXPECT_EQ(decode_base64("aGVs\nbG8="), "hello");
  EXPECT_EQ(decode_base64("aGk="), "hi");
  EXPECT_FALSE(decode_base64("a$b="));
  EXPECT_FALSE(decode_base64("a"));
}

}  // namespace
}  // namespace infergate::kube

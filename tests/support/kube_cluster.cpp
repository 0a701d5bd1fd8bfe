#include "support/kube_cluster.hpp"

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

#include "support/child_process.hpp"

namespace infergate::testing {
namespace fs = std::filesystem;
namespace json = boost::json;
using Clock = std::chrono::steady_clock;

std::pair<std::string, bool> run_shell(const std::string& command) {
  std::string out;
  FILE* p = ::popen(command.c_str(), "r");
  if (!p) return {"", false};
  char buf[4096];
  for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
  const int status = ::pclose(p);
  return {out, WIFEXITED(status) && WEXITSTATUS(status) == 0};
}

KubeCluster::KubeCluster(const fs::path& dir, const std::string& harness,
                         const std::string& bin_dir)
    : dir_(dir) {
  fs::create_directories(dir_);
  harness_ = std::make_unique<ChildProcess>(
      harness,
      std::vector<std::string>{"--dir", dir_.string(), "--bin-dir", bin_dir, "--stdin-control"},
      std::chrono::seconds(90), /*pipe_stdin=*/true);
  const json::object ready = json::parse(harness_->ready_json()).as_object();
  server_ = std::string(ready.at("server").as_string());
  kubeconfig_ = std::string(ready.at("kubeconfig").as_string());
  token_ = std::string(ready.at("token").as_string());
  ca_ = std::string(ready.at("ca").as_string());
}

KubeCluster::~KubeCluster() {
  harness_.reset();  // stops kube-apiserver and etcd
  std::error_code ignored;
  fs::remove_all(dir_, ignored);
}

std::string KubeCluster::call(const std::string& method, const std::string& path,
                              const std::string& body, const std::string& content_type) {
  const fs::path file = dir_ / "body";
  std::ofstream(file) << body;
  const std::string cmd = "curl -sS --max-time 20 --cacert " + ca_ + " -H 'Authorization: Bearer " +
                          token_ + "' -H 'Content-Type: " + content_type + "' -X " + method +
                          (body.empty() ? "" : " --data-binary @" + file.string()) + " '" +
                          server_ + path + "' -w '\\n%{http_code}'";
  auto [out, ok] = run_shell(cmd);
  EXPECT_TRUE(ok) << cmd << "\n" << out;
  const auto nl = out.rfind('\n');
  const int code = std::atoi(out.c_str() + nl + 1);
  EXPECT_LT(code, 300) << method << " " << path << ": " << out;
  return out.substr(0, nl);
}

void KubeCluster::apply_crd(const std::string& file) {
  std::ifstream in(file);
  std::stringstream text;
  text << in.rdbuf();
  call("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", text.str(),
       "application/yaml");
}

void KubeCluster::wait_served(const std::string& path) {
  const auto deadline = Clock::now() + std::chrono::seconds(30);
  while (Clock::now() < deadline) {
    const std::string cmd = "curl -s -o /dev/null -w '%{http_code}' --cacert " + ca_ +
                            " -H 'Authorization: Bearer " + token_ + "' '" + server_ + path + "'";
    if (run_shell(cmd).first == "200") return;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));  // polling an observable
  }
  ADD_FAILURE() << path << " not served in 30 s";
}

void KubeCluster::create_pod(const std::string& ns, const std::string& name, const std::string& ip,
                             bool ready, const std::string& app) {
  call("POST", "/api/v1/namespaces/" + ns + "/pods",
       R"({"metadata":{"name":")" + name + R"(","labels":{"app":")" + app +
           R"("}},"spec":{"containers":[{"name":"vllm","image":"x"}]}})");
  set_ready(ns, name, ip, ready);
}

void KubeCluster::set_ready(const std::string& ns, const std::string& name, const std::string& ip,
                            bool ready) {
  call("PATCH", "/api/v1/namespaces/" + ns + "/pods/" + name + "/status",
       R"({"status":{"phase":"Running","podIP":")" + ip + R"(","podIPs":[{"ip":")" + ip +
           R"("}],"conditions":[{"type":"Ready","status":")" + (ready ? "True" : "False") +
           R"("}]}})",
       "application/merge-patch+json");
}

namespace {

// A top-level or metadata field of one YAML document as helm writes it ("kind: Deployment").
std::string field(const std::string& doc, const std::string& key) {
  std::stringstream lines(doc);
  for (std::string line; std::getline(lines, line);)
    if (line.starts_with(key + ": ")) return line.substr(key.size() + 2);
  return {};
}

}  // namespace

int KubeCluster::apply(const std::string& text, const std::vector<std::string>& kinds,
                       const std::string& ns, bool dry_run) {
  int applied = 0;
  for (std::size_t from = 0; from < text.size();) {
    auto sep = text.find("\n---\n", from);
    if (sep == std::string::npos) sep = text.size();
    const std::string doc = text.substr(from, sep - from);
    from = sep + 5;
    const std::string kind = field(doc, "kind");
    if (std::find(kinds.begin(), kinds.end(), kind) == kinds.end()) continue;
    std::string doc_ns = field(doc, "  namespace");
    if (doc_ns.empty()) doc_ns = ns;
    std::string plural = kind;
    for (auto& c : plural) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    plural += "s";
    const std::string api_version = field(doc, "apiVersion");
    const bool cluster_scoped = kind == "ClusterRole" || kind == "ClusterRoleBinding";
    const std::string path = (api_version == "v1" ? "/api/v1" : "/apis/" + api_version) +
                             (cluster_scoped ? "" : "/namespaces/" + doc_ns) + "/" + plural;
    call("POST", path + (dry_run ? "?dryRun=All" : ""), doc, "application/yaml");
    ++applied;
  }
  return applied;
}

void KubeCluster::write_service_account_kubeconfig(const std::string& ns, const std::string& name,
                                                   const std::string& path) {
  const json::object token =
      json::parse(call("POST", "/api/v1/namespaces/" + ns + "/serviceaccounts/" + name + "/token",
                       R"({"apiVersion":"authentication.k8s.io/v1","kind":"TokenRequest",)"
                       R"("spec":{}})"))
          .as_object();
  std::ofstream(path) << "apiVersion: v1\nkind: Config\nclusters:\n- name: test\n  cluster:\n"
                      << "    server: " << server_ << "\n    certificate-authority: " << ca_
                      << "\nusers:\n- name: " << name << "\n  user:\n    token: "
                      << token.at("status").at("token").as_string().c_str()
                      << "\ncontexts:\n- name: test\n  context: {cluster: test, user: " << name
                      << "}\ncurrent-context: test\n";
}

void KubeCluster::compact() {
  ASSERT_TRUE(harness_->write_line("compact"));
  std::string said;
  const auto done = harness_->read_line_after("COMPACTED ", std::chrono::seconds(30), &said);
  ASSERT_TRUE(done) << "kube-harness did not compact etcd; it said: " << said;
}

void KubeCluster::restart_apiserver() {
  ASSERT_TRUE(harness_->write_line("restart-apiserver"));
  std::string said;
  const auto ready = harness_->read_line_after("READY ", std::chrono::seconds(60), &said);
  ASSERT_TRUE(ready) << "kube-apiserver did not come back; kube-harness said: " << said;
}

}  // namespace infergate::testing

// UpstreamPolicy: TLS and a credential for one pool's model servers, read and checked at load.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "config/config.hpp"
#include "support/test_pki.hpp"

namespace infergate::config {
namespace {

namespace fs = std::filesystem;
using infergate::testing::CertificateRequest;
using infergate::testing::TestCa;

constexpr const char* kPools = R"(apiVersion: inference.networking.k8s.io/v1
kind: InferencePool
metadata: {name: llama}
spec:
  targetPorts: [{number: 8000}]
  selector: {matchLabels: {app: llama}}
---
apiVersion: inference.networking.k8s.io/v1
kind: InferencePool
metadata: {name: qwen}
spec:
  targetPorts: [{number: 8000}]
  selector: {matchLabels: {app: qwen}}
---
)";

class UpstreamPolicyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("infergate-policy-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
    write("ca.crt", ca_.cert_pem());
    CertificateRequest request;
    request.common_name = "gateway";
    const auto pair = ca_.issue(request);
    write("client.crt", pair.cert_pem);
    write("client.key", pair.key_pem);
    write("other.key", ca_.issue({}).key_pem);
    write("token", "s3cret-token\n");
  }
  void TearDown() override { fs::remove_all(dir_); }
  void write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name) << text;
  }
  // Loads the pools and `policies` from a file in the test's folder (relative paths resolve
  // there).
  BuildResult load(const std::string& policies) {
    write("config.yaml", std::string(kPools) + policies);
    return load_config({(dir_ / "config.yaml").string()});
  }
  static std::string policy(const std::string& spec, const std::string& name = "p") {
    return "apiVersion: infergate.dev/v1alpha1\nkind: UpstreamPolicy\nmetadata: {name: " + name +
           "}\nspec:\n  targetRef: {group: inference.networking.k8s.io, kind: InferencePool, "
           "name: llama}\n" +
           spec;
  }
  void expect_error(const std::string& policies, const std::string& field,
                    const std::string& message) {
    const auto r = load(policies);
    ASSERT_FALSE(r.config) << policies;
    const std::string text = r.diagnostics.error_text();
    EXPECT_NE(text.find(field), std::string::npos) << "want " << field << " in\n" << text;
    EXPECT_NE(text.find(message), std::string::npos) << "want '" << message << "' in\n" << text;
  }

  fs::path dir_;
  TestCa ca_{"policy-ca"};
};

TEST_F(UpstreamPolicyTest, TlsAndCredentialReachTheirPoolOnly) {
  const auto r = load(policy(R"(  tls:
    caFile: ca.crt
    serverName: llama.internal
    clientCertificateFile: client.crt
    clientKeyFile: client.key
    minVersion: "1.3"
  credential: {valueFile: token}
)"));
  ASSERT_TRUE(r.config) << r.diagnostics.error_text();
  const PoolConfig& llama = r.config->pools[0];
  ASSERT_TRUE(llama.upstream_tls);
  EXPECT_TRUE(llama.upstream_tls->context);
  EXPECT_EQ(llama.upstream_tls->server_name, "llama.internal");
  EXPECT_TRUE(llama.upstream_tls->verify);
  ASSERT_TRUE(llama.credential);
  EXPECT_EQ(llama.credential->header, "authorization");
  EXPECT_EQ(llama.credential->value, "Bearer s3cret-token");  // the file's newline dropped
  EXPECT_FALSE(r.config->pools[1].upstream_tls);
  EXPECT_FALSE(r.config->pools[1].credential);
  // The dump says where trust and the credential come from, never the credential.
  const std::string text = dump(*r.config);
  EXPECT_EQ(text.find("s3cret"), std::string::npos) << text;
  EXPECT_NE(text.find("upstreamCredential: authorization from file"), std::string::npos) << text;
  EXPECT_NE(text.find("upstreamTLS: CA "), std::string::npos) << text;
}

TEST_F(UpstreamPolicyTest, CredentialFromTheEnvironmentWithItsOwnHeader) {
  ::setenv("INFERGATE_TEST_UPSTREAM_KEY", "env-key", 1);
  const auto r =
      load(policy("  credential: {header: X-Api-Key, valueEnv: INFERGATE_TEST_UPSTREAM_KEY}\n"));
  ASSERT_TRUE(r.config) << r.diagnostics.error_text();
  const auto& cred = *r.config->pools[0].credential;
  EXPECT_EQ(cred.header, "x-api-key");
  EXPECT_EQ(cred.value, "env-key");  // no Bearer prefix on a header of its own
  EXPECT_FALSE(r.config->pools[0].upstream_tls);
}

TEST_F(UpstreamPolicyTest, MistakesFailTheLoadAtTheirField) {
  expect_error(policy("  credential: {valueEnv: INFERGATE_TEST_SURELY_UNSET}\n"),
               "spec.credential.valueEnv", "is not set or empty");
  expect_error(policy("  credential: {valueFile: missing}\n"), "spec.credential.valueFile",
               "cannot read");
  expect_error(policy("  credential: {valueFile: token, valueEnv: X}\n"), "spec.credential",
               "exactly one of valueFile and valueEnv");
  expect_error(policy("  credential: {header: host, valueFile: token}\n"), "spec.credential.header",
               "the gateway sets host itself");
  expect_error(policy("  tls: {caFile: token}\n"), "spec.tls", "no PEM certificate in the CA file");
  expect_error(policy("  tls: {caFile: /dev/zero}\n"), "spec.tls.caFile", "not a regular file");
  expect_error(policy("  tls: {minVersion: \"1.1\"}\n"), "spec.tls.minVersion",
               "must be \"1.2\" or \"1.3\"");
  expect_error(policy("  tls: {clientCertificateFile: client.crt}\n"), "spec.tls.clientKeyFile",
               "go together");
  expect_error(policy("  tls: {caFile: ca.crt, clientCertificateFile: client.crt, "
                      "clientKeyFile: other.key}\n"),
               "spec.tls", "client certificate: the private key does not match");
  expect_error(policy("  tls: {caFile: ca.crt, insecureSkipVerify: true}\n"),
               "spec.tls.insecureSkipVerify", "contradicts caFile");
  expect_error(policy(""), "spec.tls", "needs tls, credential or both");
  expect_error(policy("  credential: {valueFile: token}\n") + "---\n" +
                   policy("  credential: {valueFile: token}\n", "second"),
               "spec.targetRef.name", "already has UpstreamPolicy p");
  expect_error(
      "apiVersion: infergate.dev/v1alpha1\nkind: UpstreamPolicy\nmetadata: {name: x}\n"
      "spec:\n  targetRef: {name: nowhere}\n  credential: {valueFile: token}\n",
      "spec.targetRef.name", "InferencePool default/nowhere does not exist");
}

}  // namespace
}  // namespace infergate::config

// TLS on both sides and credentials, with real processes: a TLS client through the gateway to
// a TLS simulator that requires the gateway's client certificate and an API key; the listener's
// certificate swapped under traffic; bad certificates refused with a log line; an upstream whose
// certificate the pool's CA did not issue refused. Every test makes its own CAs.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "support/gateway_processes.hpp"
#include "support/integration.hpp"
#include "support/test_pki.hpp"
#include "support/tls_client.hpp"

namespace infergate::testing {
namespace {

constexpr const char* kModel = "meta-llama/Llama-3.1-8B-Instruct";
constexpr const char* kPrimaryKey = "primary-model-server-key";
constexpr const char* kMirrorKey = "mirror-model-server-key";
constexpr const char* kGatewayKey = "Bearer client-gateway-key-1";

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::vector<boost::json::object> log_lines(const std::string& path) {
  std::vector<boost::json::object> out;
  std::istringstream lines(slurp(path));
  for (std::string line; std::getline(lines, line);)
    if (!line.empty()) out.push_back(boost::json::parse(line).as_object());
  return out;
}

std::string header_of(const boost::json::object& line, const std::string& name) {
  for (const auto& h : line.at("headers").as_array()) {
    const auto& pair = h.as_array();
    std::string key(pair[0].as_string());
    for (auto& c : key) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (key == name) return std::string(pair[1].as_string());
  }
  return {};
}

class TlsProcess : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("infergate-tls-it-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string file(const std::string& name, const std::string& text) {
    std::string where = (dir_ / name).string();
    write_file_atomically(where, text);
    return where;
  }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  // The listener's pair, issued by the clients' CA with common name `cn`.
  void install_listener_pair(const std::string& cn,
                             std::chrono::seconds not_after = std::chrono::hours(24)) {
    CertificateRequest request;
    request.common_name = cn;
    request.not_after = not_after;
    const KeyPair pair = clients_ca_.issue(request);
    // Key first, then certificate: a watcher may see the new key with the old certificate for a
    // moment, which it must refuse without dropping the pair it serves.
    file("listener.key", pair.key_pem);
    file("listener.crt", pair.cert_pem);
  }

  // A TLS simulator that wants the gateway's client certificate and `api_key`.
  std::unique_ptr<Process> start_tls_sim(const std::string& name, const TestCa& server_ca,
                                         const std::string& api_key) {
    CertificateRequest request;
    request.common_name = name;
    request.dns_names = {name};
    request.ip_addresses = {};
    const KeyPair pair = server_ca.issue(request);
    return start_sim({"--replicas", "1", "--gpu-profile", "tiny", "--pod-name", name,
                      "--tls-cert-file", file(name + ".crt", pair.cert_pem), "--tls-key-file",
                      file(name + ".key", pair.key_pem), "--tls-client-ca-file",
                      file("gateway-client-ca.crt", gateway_client_ca_.cert_pem()), "--api-key",
                      api_key, "--header-log", path(name + ".headers")});
  }

  // The UpstreamPolicy of a pool whose model servers speak TLS.
  std::string tls_policy(const std::string& pool, const std::string& ca_file) {
    CertificateRequest request;
    request.common_name = "gateway-client";
    const KeyPair client = gateway_client_ca_.issue(request);
    return "---\napiVersion: infergate.dev/v1alpha1\nkind: UpstreamPolicy\nmetadata: {name: " +
           pool +
           "-upstream}\nspec:\n  targetRef: {group: inference.networking.k8s.io, kind: "
           "InferencePool, name: " +
           pool + "}\n  tls:\n    caFile: " + ca_file + "\n    serverName: " + pool +
           "\n    clientCertificateFile: " + file(pool + "-client.crt", client.cert_pem) +
           "\n    clientKeyFile: " + file(pool + "-client.key", client.key_pem) +
           "\n  credential: {valueFile: " +
           file(pool + ".secret", std::string(kPrimaryKey) + "\n") + "}\n";
  }

  std::vector<std::string> listener_flags() {
    return {"--tls-cert-file",    path("listener.crt"),       "--tls-key-file",
            path("listener.key"), "--tls-reload-interval-ms", "50"};
  }

  TlsClientOptions client_options() const {
    TlsClientOptions o;
    o.ca_pem = clients_ca_.cert_pem();
    return o;
  }

  std::filesystem::path dir_;
  TestCa clients_ca_{"clients-ca"};                // issues the listener's certificate
  TestCa model_servers_ca_{"model-servers-ca"};    // issues the simulators' certificates
  TestCa gateway_client_ca_{"gateway-client-ca"};  // issues the gateway's client certificate
};

// One pool "s" of the simulator's replicas, plain HTTP.
std::string one_pool(const Process& sim) {
  return "apiVersion: infergate.dev/v1alpha1\nkind: StaticEndpoints\nmetadata: {name: e}\nspec:\n  "
         "endpoints:\n" +
         endpoints_yaml("s", "s", sim) + pool_yaml("s");
}

// A gateway started through a shell, its log (stderr) in a file the test reads.
std::unique_ptr<Process> start_logged_gateway(const std::string& log,
                                              std::vector<std::string> args) {
  std::vector<std::string> sh{"-c", "exec \"$0\" \"$@\" 2>>" + log, INFERGATE_BIN};
  sh.insert(sh.end(), args.begin(), args.end());
  return std::make_unique<Process>("/bin/sh", sh);
}

TEST_F(TlsProcess, ClientThroughToTlsSimulatorWithNoClientCredentialOrControlHeaderUpstream) {
  auto primary = start_tls_sim("primary", model_servers_ca_, kPrimaryKey);
  auto mirror = start_sim({"--replicas", "1", "--gpu-profile", "tiny", "--pod-name", "mirror",
                           "--api-key", kMirrorKey, "--header-log", path("mirror.headers")});
  ::setenv("INFERGATE_TEST_MIRROR_KEY", kMirrorKey, 1);
  const std::string ca = file("model-servers-ca.crt", model_servers_ca_.cert_pem());
  // The simulator's certificate names the pool ("primary"), not 127.0.0.1: serverName says so.
  TempConfig config(
      "apiVersion: infergate.dev/v1alpha1\nkind: StaticEndpoints\nmetadata: {name: e}\nspec:\n  "
      "endpoints:\n" +
      endpoints_yaml("p", "primary", *primary) + endpoints_yaml("m", "mirror", *mirror) +
      pool_yaml("primary") + pool_yaml("mirror") + tls_policy("primary", ca) + R"(---
apiVersion: infergate.dev/v1alpha1
kind: UpstreamPolicy
metadata: {name: mirror-upstream}
spec:
  targetRef: {group: inference.networking.k8s.io, kind: InferencePool, name: mirror}
  credential: {valueEnv: INFERGATE_TEST_MIRROR_KEY}
---
apiVersion: infergate.dev/v1alpha1
kind: ApiKeys
metadata: {name: keys}
spec:
  keys: [{key: client-gateway-key-1, tenant: team-a, maxPriority: 10}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r}
spec:
  rules:
  - backendRefs: [)" +
      backend("primary") +
      R"(]
    filters: [{type: RequestMirror, requestMirror: {backendRef: {group: inference.networking.k8s.io, kind: InferencePool, name: mirror}}}]
)");
  install_listener_pair("gateway-one");
  Gateway gw(config.path(), listener_flags());

  TlsClient client(gw.port, client_options());
  EXPECT_EQ(client.peer_common_name(), "gateway-one");
  const std::map<std::string, std::string> headers{
      {"Authorization", kGatewayKey},
      {"x-gateway-inference-objective", "critical-claim"},
      {"x-llm-d-inference-objective", "critical-claim"},
      {"x-gateway-inference-fairness-id", "someone-else"},
      {"x-request-id", "tls-request-1"}};
  const auto res = client.post("/v1/completions", completion(kModel), headers);
  ASSERT_EQ(res.status, 200) << res.body;
  EXPECT_EQ(res.header("x-inference-pod"), "primary-0");
  EXPECT_TRUE(res.header("x-gateway-destination-endpoint-served").empty());

  // The mirror's copy is detached: wait (bounded) for it to arrive.
  ASSERT_TRUE(until([&] { return !log_lines(path("mirror.headers")).empty(); }));
  const auto primary_lines = log_lines(path("primary.headers"));
  const auto mirror_lines = log_lines(path("mirror.headers"));
  ASSERT_EQ(primary_lines.size(), 1u) << slurp(path("primary.headers"));
  ASSERT_EQ(mirror_lines.size(), 1u) << slurp(path("mirror.headers"));
  const auto& p = primary_lines.front();
  const auto& m = mirror_lines.front();
  EXPECT_EQ(p.at("tls_client").as_string(), "gateway-client");  // the pool's client certificate
  EXPECT_EQ(header_of(p, "authorization"), std::string("Bearer ") + kPrimaryKey);
  EXPECT_EQ(header_of(m, "authorization"), std::string("Bearer ") + kMirrorKey);
  for (const auto* line : {&p, &m}) {
    const std::string text = boost::json::serialize(*line);
    EXPECT_EQ(text.find("client-gateway-key-1"), std::string::npos) << text;
    EXPECT_EQ(text.find("critical-claim"), std::string::npos) << text;
    EXPECT_EQ(text.find("someone-else"), std::string::npos) << text;
    EXPECT_TRUE(header_of(*line, "x-gateway-inference-objective").empty());
    EXPECT_TRUE(header_of(*line, "x-gateway-inference-fairness-id").empty());
    EXPECT_EQ(header_of(*line, "x-request-id"), "tls-request-1");
    EXPECT_EQ(header_of(*line, "x-forwarded-for"), "127.0.0.1");
  }

  // The scraper reaches the TLS simulator too (with the pool's CA and client certificate): the
  // first endpoint listed is the primary pool's.
  auto admin = gw.admin();
  EXPECT_EQ(metric(admin, "infergate_endpoint_scrape_healthy"), 1);
  EXPECT_EQ(metric(admin, "infergate_endpoint_scrape_failures_total"), 0);

  // Streaming over both TLS legs.
  const auto streamed = client.post("/v1/completions", completion(kModel, 5, true), headers);
  ASSERT_EQ(streamed.status, 200) << streamed.body;
  EXPECT_EQ(sse_payloads(streamed.body).back(), "[DONE]");

  // Without the gateway key the client gets 401, and nothing goes upstream.
  const auto refused = client.post("/v1/completions", completion(kModel));
  EXPECT_EQ(refused.status, 401);
}

TEST_F(TlsProcess, CertificateSwappedUnderTrafficFailsNoRequest) {
  auto sim = start_sim({"--replicas", "2", "--gpu-profile", "tiny", "--pod-name", "s"});
  TempConfig config(one_pool(*sim));
  install_listener_pair("gateway-one");
  const std::string log = path("gateway.log");
  auto gw = start_logged_gateway(
      log, {"--config", config.path(), "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0",
            "--workers", "2", "--tls-cert-file", path("listener.crt"), "--tls-key-file",
            path("listener.key"), "--tls-reload-interval-ms", "50"});
  const auto port = static_cast<unsigned short>(gw->ready().at("port").to_number<int>());

  TlsClient kept_open(port, client_options());  // a connection from before the swap
  ASSERT_EQ(kept_open.post("/v1/completions", completion(kModel)).status, 200);

  std::atomic<bool> stop{false};
  std::atomic<int> ok{0}, failed{0};
  std::string first_failure;
  std::thread traffic([&] {
    while (!stop.load()) {
      try {
        TlsClient c(port, client_options());  // a new connection (and handshake) each time
        if (c.post("/v1/completions", completion(kModel)).status == 200) {
          ok.fetch_add(1);
          continue;
        }
      } catch (const std::exception& e) {
        if (failed.load() == 0) first_failure = e.what();
      }
      failed.fetch_add(1);
    }
  });
  ASSERT_TRUE(until([&] { return ok.load() >= 5; }));
  install_listener_pair("gateway-two");
  const bool swapped = until([&] {
    TlsClient probe(port, client_options());
    return probe.peer_common_name() == "gateway-two";
  });
  const int ok_at_swap = ok.load();
  ASSERT_TRUE(until([&] { return ok.load() >= ok_at_swap + 5; }));
  stop = true;
  traffic.join();
  EXPECT_TRUE(swapped) << slurp(log);
  EXPECT_EQ(failed.load(), 0) << first_failure;
  // The connection opened before the swap goes on, with the certificate it began with.
  EXPECT_EQ(kept_open.post("/v1/completions", completion(kModel)).status, 200);
  EXPECT_EQ(kept_open.peer_common_name(), "gateway-one");
  EXPECT_NE(slurp(log).find("TLS certificate reloaded from"), std::string::npos) << slurp(log);
}

TEST_F(TlsProcess, BadCertificatesAreRefusedWithALogLine) {
  auto sim = start_sim({"--replicas", "1", "--gpu-profile", "tiny", "--pod-name", "s"});
  TempConfig config(one_pool(*sim));

  // At start-up an expired certificate stops the gateway, saying why.
  install_listener_pair("expired", std::chrono::seconds(-60));
  std::vector<std::string> args{"--config",    config.path(),    "--listen",
                                "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"};
  const auto flags = listener_flags();
  args.insert(args.end(), flags.begin(), flags.end());
  const Finished expired = run_to_exit(INFERGATE_BIN, args);
  EXPECT_EQ(expired.status, 1) << expired.output;
  EXPECT_NE(expired.output.find("the certificate expired at"), std::string::npos) << expired.output;
  install_listener_pair("good");
  file("listener.key", "-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n");
  const Finished garbled = run_to_exit(INFERGATE_BIN, args);
  EXPECT_EQ(garbled.status, 1) << garbled.output;
  EXPECT_NE(garbled.output.find("no PEM private key"), std::string::npos) << garbled.output;

  // While serving, a bad replacement is refused with a log line and the old pair stays.
  install_listener_pair("good");
  const std::string log = path("gateway.log");
  args.insert(args.end(), {"--workers", "1"});
  auto gw = start_logged_gateway(log, args);
  const auto port = static_cast<unsigned short>(gw->ready().at("port").to_number<int>());
  const auto admin_port =
      static_cast<unsigned short>(gw->ready().at("admin_port").to_number<int>());
  install_listener_pair("expired-replacement", std::chrono::seconds(-60));
  HttpClient admin("127.0.0.1", admin_port);
  ASSERT_TRUE(
      until([&] { return metric(admin, "infergate_tls_certificate_reload_failures_total") >= 1; }));
  const std::string text = slurp(log);
  EXPECT_NE(text.find("refused, still serving the previous one: the certificate expired at"),
            std::string::npos)
      << text;
  TlsClient after(port, client_options());
  EXPECT_EQ(after.peer_common_name(), "good");
  EXPECT_EQ(after.post("/v1/completions", completion(kModel)).status, 200);

  // A client that does not trust the listener's CA fails its handshake, and it is counted.
  TestCa stranger("stranger-ca");
  TlsClientOptions untrusting = client_options();
  untrusting.ca_pem = stranger.cert_pem();
  EXPECT_THROW(TlsClient(port, untrusting), std::runtime_error);
  EXPECT_TRUE(until([&] { return metric(admin, "infergate_tls_handshake_failures_total") >= 1; }));
}

TEST_F(TlsProcess, UpstreamCaCheckRefusesAnUnknownServer) {
  TestCa impostor_ca("impostor-ca");
  auto sim = start_tls_sim("primary", impostor_ca, kPrimaryKey);
  const std::string ca = file("model-servers-ca.crt", model_servers_ca_.cert_pem());
  TempConfig config(
      "apiVersion: infergate.dev/v1alpha1\nkind: StaticEndpoints\nmetadata: {name: e}\nspec:\n  "
      "endpoints:\n" +
      endpoints_yaml("p", "primary", *sim) + pool_yaml("primary") + tls_policy("primary", ca));
  const std::string log = path("gateway.log");
  // Scraping on: the endpoint leaves picking at its first scrape, the log saying why.
  auto scraped = start_logged_gateway(log, {"--config", config.path(), "--listen", "127.0.0.1:0",
                                            "--admin-listen", "127.0.0.1:0", "--workers", "1"});
  HttpClient c("127.0.0.1",
               static_cast<unsigned short>(scraped->ready().at("port").to_number<int>()));
  EXPECT_EQ(c.post("/v1/completions", completion(kModel)).status, 503);
  EXPECT_TRUE(until([&] {
    return slurp(log).find("TLS handshake failed (certificate verify failed") != std::string::npos;
  })) << slurp(log);
  scraped->child.terminate();

  // Scraping off: the request itself meets the certificate, and the client is told why.
  Gateway unscraped(config.path(), {"--scrape-interval-ms", "0"});
  auto client = unscraped.client();
  const auto res = client.post("/v1/completions", completion(kModel));
  EXPECT_EQ(res.status, 503) << res.body;
  EXPECT_NE(res.body.find("TLS handshake failed (certificate verify failed"), std::string::npos)
      << res.body;
  EXPECT_TRUE(log_lines(path("primary.headers")).empty());  // nothing reached the impostor
}

}  // namespace
}  // namespace infergate::testing

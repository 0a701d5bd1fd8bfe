// The HTTPS transport against a scripted server (tests/kube/scripted_apiserver.py): the CA
// checked, the bearer token sent (and read again from its file), a list read whole, a chunked
// watch cut into its lines wherever the chunks fall, a silent watch ended by the idle bound,
// an error's status and body, and a server with the wrong certificate refused.
#include "kube/https_transport.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "support/child_process.hpp"
#include "support/test_pki.hpp"

namespace infergate::kube {
namespace {
namespace fs = std::filesystem;
using infergate::testing::ChildProcess;

struct ScriptedServer {
  ScriptedServer() : dir(fs::temp_directory_path() / ("kube-https-" + std::to_string(::getpid()))) {
    fs::create_directories(dir);
    const auto pair = ca.issue({});
    std::ofstream(dir / "cert.pem") << pair.cert_pem;
    std::ofstream(dir / "key.pem") << pair.key_pem;
    std::ofstream(dir / "token") << "tok-1\n";
    server = std::make_unique<ChildProcess>(
        "/usr/bin/python3",
        std::vector<std::string>{INFERGATE_SCRIPTED_APISERVER, (dir / "cert.pem").string(),
                                 (dir / "key.pem").string(), "tok-1"});
    const std::string& ready = server->ready_json();
    port = ready.substr(ready.find(':') + 1, ready.find('}') - ready.find(':') - 1);
    while (!port.empty() && port.front() == ' ') port.erase(0, 1);
  }
  ~ScriptedServer() { fs::remove_all(dir); }
  ClusterAccess access() const {
    ClusterAccess a;
    a.server = "https://127.0.0.1:" + port;
    a.ca_pem = ca.cert_pem();
    a.token_file = (dir / "token").string();
    return a;
  }
  fs::path dir;
  infergate::testing::TestCa ca{"kube-test-ca"};
  std::unique_ptr<ChildProcess> server;
  std::string port;
};

TEST(HttpsTransport, ListWatchAndErrors) {
  ScriptedServer s;
  std::string error;
  auto t = make_https_transport(s.access(), error);
  ASSERT_TRUE(t) << error;
  const ApiResponse list = t->get("/list?limit=500", std::chrono::seconds(10));
  EXPECT_EQ(list.status, 200) << list.error;
  EXPECT_NE(list.body.find(R"("resourceVersion": "7")"), std::string::npos) << list.body;

  std::vector<std::string> lines;
  const ApiResponse watch =
      t->watch("/watch?watch=1", std::chrono::seconds(10), [&](std::string_view l) {
        lines.emplace_back(l);
        return true;
      });
  EXPECT_EQ(watch.status, 200) << watch.error;
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[1], R"({"type":"MODIFIED","n":2})");

  lines.clear();
  const ApiResponse silent =
      t->watch("/silent", std::chrono::milliseconds(300), [&](std::string_view l) {
        lines.emplace_back(l);
        return true;
      });
  EXPECT_EQ(lines.size(), 1u);
  EXPECT_NE(silent.error.find("silent"), std::string::npos) << silent.error;

  const ApiResponse denied = t->get("/denied", std::chrono::seconds(10));
  EXPECT_EQ(denied.status, 403);
  EXPECT_NE(denied.body.find("forbidden"), std::string::npos);
  const ApiResponse denied_watch =
      t->watch("/denied", std::chrono::seconds(10), [](std::string_view) { return true; });
  EXPECT_EQ(denied_watch.status, 403);
  EXPECT_NE(denied_watch.body.find("forbidden"), std::string::npos);

  // The token file is read for each request: a rotated token that the server refuses shows.
  std::ofstream(s.dir / "token") << "rotated\n";
  EXPECT_EQ(t->get("/list", std::chrono::seconds(10)).status, 401);
}

TEST(HttpsTransport, AServerOutsideTheCaIsRefused) {
  ScriptedServer s;
  ClusterAccess a = s.access();
  infergate::testing::TestCa other("another-ca");
  a.ca_pem = other.cert_pem();
  std::string error;
  auto t = make_https_transport(a, error);
  ASSERT_TRUE(t) << error;
  const ApiResponse r = t->get("/list", std::chrono::seconds(10));
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.error.find("TLS handshake"), std::string::npos) << r.error;
}

}  // namespace
}  // namespace infergate::kube

// SIGTERM with connections in every state: the gateway stops accepting, answers every request
// begun before the signal (even one whose body is still arriving), closes idle connections,
// cuts what outlives --drain-timeout-ms, and exits 0. Each of these crashed the process
// (SIGSEGV) before the workers' coroutines were ended before the objects they refer to.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>

#include "support/gateway_processes.hpp"
#include "support/integration.hpp"
#include "support/raw_connection.hpp"

namespace infergate::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr const char* kModel = "meta-llama/Llama-3.1-8B-Instruct";  // the simulator's default

std::string one_pool(const Process& sim) {
  return "apiVersion: infergate.dev/v1alpha1\nkind: StaticEndpoints\nmetadata: {name: e}\nspec:\n "
         " endpoints:\n" +
         endpoints_yaml("a", "a", sim) + pool_yaml("a");
}

// Sends SIGTERM and waits until the gateway has stopped accepting (a new connection is
// refused), so the test knows the drain has begun.
void begin_drain(const Gateway& gw) {
  gw.process->child.signal(SIGTERM);
  ASSERT_TRUE(until(
      [&] {
        try {
          RawConnection probe(gw.port);
          return false;
        } catch (const std::runtime_error&) {
          return true;
        }
      },
      seconds(10)));
}

class GatewayShutdown : public ::testing::Test {
 protected:
  void SetUp() override {
    sim_ = start_sim({"--pod-name", "a"});
    config_ = std::make_unique<TempConfig>(one_pool(*sim_));
  }
  Gateway start(const std::string& drain_ms = "5000") {
    return Gateway(config_->path(), {"--drain-timeout-ms", drain_ms});
  }
  std::unique_ptr<Process> sim_;
  std::unique_ptr<TempConfig> config_;
};

TEST_F(GatewayShutdown, IdleKeepAliveClientIsClosedAndTheProcessExitsZero) {
  Gateway gw = start();
  auto client = gw.client();
  ASSERT_EQ(client.post("/v1/completions", completion(kModel)).status, 200);  // stays open
  const auto began = std::chrono::steady_clock::now();
  gw.process->child.signal(SIGTERM);
  EXPECT_EQ(gw.process->child.wait_exit(seconds(10)), 0);
  // Idle connections do not hold the drain for its timeout.
  EXPECT_LT(std::chrono::steady_clock::now() - began, seconds(4));
}

TEST_F(GatewayShutdown, ConnectionThatSentNothingIsClosed) {
  Gateway gw = start();
  RawConnection silent(gw.port);
  ASSERT_EQ(gw.client().get("/v1/models").status, 200);  // the silent one was accepted before
  gw.process->child.signal(SIGTERM);
  bool closed = false;
  EXPECT_EQ(silent.read_until_close(seconds(10), closed), "");
  EXPECT_TRUE(closed);
  EXPECT_EQ(gw.process->child.wait_exit(seconds(10)), 0);
}

TEST_F(GatewayShutdown, AdminKeepAliveOfAScraperIsClosed) {
  Gateway gw = start();
  auto admin = gw.admin();
  ASSERT_EQ(admin.get("/metrics").status, 200);  // a scraper's keep-alive connection
  gw.process->child.signal(SIGTERM);
  EXPECT_EQ(gw.process->child.wait_exit(seconds(10)), 0);
}

TEST_F(GatewayShutdown, RequestWhoseBodyIsStillArrivingIsAnswered) {
  Gateway gw = start();
  const std::string body = completion(kModel);
  RawConnection c(gw.port);
  ASSERT_TRUE(
      c.send("POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: "
             "application/json\r\nContent-Length: " +
             std::to_string(body.size()) + "\r\n\r\n" + body.substr(0, 10)));
  // The head is in before the signal: make sure the gateway has read it.
  ASSERT_EQ(gw.client().get("/v1/models").status, 200);
  begin_drain(gw);
  ASSERT_TRUE(c.send(body.substr(10)));
  bool closed = false;
  const std::string answer = c.read_until_close(seconds(10), closed);
  EXPECT_EQ(answer.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << answer;
  EXPECT_NE(answer.find("Connection: close\r\n"), std::string::npos) << answer;
  EXPECT_NE(answer.find("\"choices\""), std::string::npos) << answer;
  EXPECT_TRUE(closed);
  EXPECT_EQ(gw.process->child.wait_exit(seconds(10)), 0);
}

TEST_F(GatewayShutdown, StreamOutlivingTheDrainTimeoutIsCutAndTheProcessExitsZero) {
  Gateway gw = start("300");
  RawConnection c(gw.port);
  const std::string body = completion(kModel, 4000, /*stream=*/true);  // about 30 s of decoding
  ASSERT_TRUE(
      c.send("POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: "
             "application/json\r\nContent-Length: " +
             std::to_string(body.size()) + "\r\n\r\n" + body));
  ASSERT_TRUE(c.read_until("data: ", seconds(10)));
  const auto began = std::chrono::steady_clock::now();
  gw.process->child.signal(SIGTERM);
  bool closed = false;
  const std::string rest = c.read_until_close(seconds(10), closed);
  EXPECT_TRUE(closed);
  EXPECT_EQ(rest.find("[DONE]"), std::string::npos);
  EXPECT_EQ(gw.process->child.wait_exit(seconds(10)), 0);
  EXPECT_LT(std::chrono::steady_clock::now() - began, seconds(5));
}

}  // namespace
}  // namespace infergate::testing

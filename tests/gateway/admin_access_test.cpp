// The admin listener's access rule: on a non-loopback address the gateway does not start
// without a token; with a token, /reload and /config (and the probes, unless opened) need it, and
// the live page's data, but not its files.
#include <gtest/gtest.h>

#include "support/gateway_processes.hpp"
#include "support/integration.hpp"

namespace infergate::testing {
namespace {

constexpr const char* kToken = "admin-token-0123456789";

class AdminAccess : public ::testing::Test {
 protected:
  void SetUp() override {
    sim_ = start_sim({"--pod-name", "a", "--gpu-profile", "tiny"});
    config_ = std::make_unique<TempConfig>(
        "apiVersion: infergate.dev/v1alpha1\nkind: StaticEndpoints\nmetadata: {name: e}\nspec:\n "
        " endpoints:\n" +
        endpoints_yaml("a", "a", *sim_) + pool_yaml("a"));
    token_ = std::make_unique<TempConfig>(std::string(kToken) + "\n");
  }
  // A gateway whose admin listener binds every interface.
  std::unique_ptr<Process> start(std::vector<std::string> extra) {
    std::vector<std::string> args{"--config",       config_->path(), "--listen",  "127.0.0.1:0",
                                  "--admin-listen", "0.0.0.0:0",     "--workers", "1"};
    args.insert(args.end(), extra.begin(), extra.end());
    return std::make_unique<Process>(INFERGATE_BIN, args);
  }
  static unsigned short admin_port(const Process& p) {
    return static_cast<unsigned short>(p.ready().at("admin_port").to_number<int>());
  }
  std::unique_ptr<Process> sim_;
  std::unique_ptr<TempConfig> config_, token_;
};

TEST_F(AdminAccess, NonLoopbackWithoutATokenDoesNotStart) {
  const Finished run = run_to_exit(INFERGATE_BIN, {"--config", config_->path(), "--listen",
                                                   "127.0.0.1:0", "--admin-listen", "0.0.0.0:0"});
  EXPECT_EQ(run.status, 2) << run.output;
  EXPECT_NE(run.output.find("--admin-token-file"), std::string::npos) << run.output;
}

TEST_F(AdminAccess, ReloadConfigAndProbesNeedTheToken) {
  auto gw = start({"--admin-token-file", token_->path()});
  HttpClient admin("127.0.0.1", admin_port(*gw));
  EXPECT_EQ(admin.post("/reload", "").status, 401);
  EXPECT_EQ(admin.get("/config").status, 401);
  EXPECT_EQ(admin.get("/metrics").status, 401);
  EXPECT_EQ(admin.post("/reload", "", {{"Authorization", "Bearer wrong-token-0123456789"}}).status,
            401);
  const std::map<std::string, std::string> auth{{"Authorization", std::string("Bearer ") + kToken}};
  EXPECT_EQ(admin.post("/reload", "", auth).status, 200);
}

TEST_F(AdminAccess, ProbesCanBeOpenedWhileReloadStaysClosed) {
  auto gw = start({"--admin-token-file", token_->path(), "--admin-open-probes"});
  HttpClient admin("127.0.0.1", admin_port(*gw));
  EXPECT_EQ(admin.get("/healthz").status, 200);
  EXPECT_EQ(admin.get("/readyz").status, 200);  // started: the first scrape round is done
  EXPECT_EQ(admin.get("/metrics").status, 200);
  EXPECT_EQ(admin.post("/reload", "").status, 401);
  EXPECT_EQ(admin.get("/config").status, 401);
}

TEST_F(AdminAccess, TheLivePageOpensWithoutTheTokenItsDataDoesNot) {
  auto gw = start({"--admin-token-file", token_->path()});
  HttpClient admin("127.0.0.1", admin_port(*gw));
  // A browser cannot send the token when it opens the page: its files hold no data.
  for (const char* file : {"/dashboard", "/dashboard/dashboard.js", "/dashboard/dashboard.css"})
    EXPECT_EQ(admin.get(file).status, 200) << file;
  EXPECT_EQ(admin.get("/dashboard/decisions").status, 401);
  EXPECT_EQ(admin.get("/dashboard/other.js").status, 401);
  const std::map<std::string, std::string> auth{{"Authorization", std::string("Bearer ") + kToken}};
  EXPECT_EQ(admin.get("/dashboard/decisions", auth).status, 200);
  EXPECT_EQ(admin.get("/dashboard/other.js", auth).status, 404);
}

}  // namespace
}  // namespace infergate::testing

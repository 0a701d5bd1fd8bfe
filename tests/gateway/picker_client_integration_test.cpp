// InferGate's gateway calling pools' own endpoint pickers (pickerclient/, docs/extproc.md): the
// pickers are InferGate's (infergate --mode=epp, TLS with a self-signed certificate), in front of
// one simulator with three replicas (a, b, c). The gateway routes each model to a pool whose
// InferencePool names a picker:
//
//   good, shed   picker `good` (pool a, b; FailClose), which sheds Sheddable requests with one
//                request in flight per endpoint
//   good-open    the same picker, FailOpen
//   fallback     picker `fallback` (pool a, b), which names one fallback after the primary:
//                round-robin over a and b picks both for each request, so a is always first
//   down-close   a picker nobody listens for, FailClose; down-open: the same, FailOpen
//   outside      picker `outside`, whose own pool is c alone: outside the gateway's pool
//
// A stopped picker (SIGSTOP) is a slow one: the gateway's --picker-timeout-ms passes first.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "support/free_port.hpp"
#include "support/gateway_processes.hpp"
#include "support/prometheus_text.hpp"

namespace infergate::testing {
namespace {
namespace fs = std::filesystem;
namespace json = boost::json;

std::string endpoint_yaml(const std::string& name, int port, const std::string& app) {
  return "  - {name: " + name + ", address: \"127.0.0.1:" + std::to_string(port) + "\"" +
         (app.empty() ? "" : ", labels: {app: " + app + "}") + "}\n";
}

std::string picker_pool_yaml(const std::string& name, const std::string& picker,
                             const std::string& mode) {
  return "---\napiVersion: inference.networking.k8s.io/v1\nkind: InferencePool\nmetadata: {name: " +
         name +
         "}\nspec:\n  targetPorts: [{number: 8000}]\n  selector: {matchLabels: {app: p}}\n"
         "  endpointPickerRef: {name: " +
         picker + ", failureMode: " + mode + "}\n";
}

std::string model_rule(const std::string& model, const std::string& pool) {
  return "  - matches: [{headers: [{name: X-Gateway-Model-Name, value: " + model +
         "}]}]\n    backendRefs: [" + backend(pool) + "]\n";
}

class GatewayToPicker : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir = fs::temp_directory_path() / ("infergate-pickerclient-" + std::to_string(::getpid()));
    fs::create_directories(dir);
    sim = start_sim({"--replicas", "3", "--served-model-name", "good", "good-open", "shed",
                     "down-close", "down-open", "outside", "fallback", "food-review-1"})
              .release();
    const auto ports = replica_ports(sim->child.ready_json());
    port_a = ports.at(0);
    port_b = ports.at(1);
    const int port_c = ports.at(2);

    // The pickers: round-robin, so that consecutive requests take a and b as primary in turn.
    const std::string good_yaml = write(
        "good.yaml",
        "apiVersion: infergate.dev/v1alpha1\nkind: StaticEndpoints\nmetadata: {name: e}\nspec:\n"
        "  endpoints:\n" +
            endpoint_yaml("a", port_a, "p") + endpoint_yaml("b", port_b, "p") + pool_yaml("p") +
            "---\napiVersion: inference.networking.x-k8s.io/v1alpha2\nkind: InferenceModel\n"
            "metadata: {name: f}\nspec: {modelName: food-review, poolRef: {name: p}, "
            "targetModels: [{name: food-review-1}]}\n"
            "---\napiVersion: inference.networking.x-k8s.io/v1alpha2\nkind: InferenceObjective\n"
            "metadata: {name: batch}\nspec: {priority: -1, poolRef: {name: p}}\n");
    good = start_picker(good_yaml, "good.log", {});
    fallback = start_picker(good_yaml, "fallback.log", {"--fallback-endpoints", "1"});
    const std::string outside_yaml = write(
        "outside.yaml",
        "apiVersion: infergate.dev/v1alpha1\nkind: StaticEndpoints\nmetadata: {name: e}\nspec:\n"
        "  endpoints:\n" +
            endpoint_yaml("c", port_c, "p") + pool_yaml("p"));
    outside = start_picker(outside_yaml, "outside.log", {});

    std::string gateway_yaml =
        "apiVersion: infergate.dev/v1alpha1\nkind: StaticEndpoints\nmetadata: {name: e}\nspec:\n"
        "  endpoints:\n" +
        endpoint_yaml("a", port_a, "p") + endpoint_yaml("b", port_b, "p") +
        endpoint_yaml("good-picker", picker_port(*good), "") +
        endpoint_yaml("outside-picker", picker_port(*outside), "") +
        endpoint_yaml("fallback-picker", picker_port(*fallback), "") +
        endpoint_yaml("no-picker", free_port(), "") +
        picker_pool_yaml("good", "good-picker", "FailClose") +
        picker_pool_yaml("good-open", "good-picker", "FailOpen") +
        picker_pool_yaml("down-close", "no-picker", "FailClose") +
        picker_pool_yaml("down-open", "no-picker", "FailOpen") +
        picker_pool_yaml("outside", "outside-picker", "FailClose") +
        picker_pool_yaml("fallback", "fallback-picker", "FailClose") +
        "---\napiVersion: inference.networking.x-k8s.io/v1alpha2\nkind: InferenceObjective\n"
        "metadata: {name: batch}\nspec: {priority: -1, poolRef: {name: good}}\n"
        "---\napiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: r}\n"
        "spec:\n  rules:\n" +
        model_rule("good", "good") + model_rule("shed", "good") +
        model_rule("food-review", "good") + model_rule("good-open", "good-open") +
        model_rule("down-close", "down-close") + model_rule("down-open", "down-open") +
        model_rule("outside", "outside") + model_rule("fallback", "fallback");
    gateway = new Gateway(write("gateway.yaml", gateway_yaml),
                          {"--picker-allow-self-signed", "--picker-timeout-ms", "500"});
  }

  static void TearDownTestSuite() {
    delete gateway;
    delete good;
    delete fallback;
    delete outside;
    delete sim;
    fs::remove_all(dir);
  }

  static std::string write(const std::string& name, const std::string& text) {
    std::string path = (dir / name).string();
    std::ofstream(path) << text;
    return path;
  }

  static Process* start_picker(const std::string& config, const std::string& log,
                               std::vector<std::string> extra) {
    std::vector<std::string> args = {"--mode",
                                     "epp",
                                     "--config",
                                     config,
                                     "--grpc-listen",
                                     "127.0.0.1:0",
                                     "--grpc-health-listen",
                                     "127.0.0.1:0",
                                     "--admin-listen",
                                     "127.0.0.1:0",
                                     "--workers",
                                     "1",
                                     "--max-in-flight-per-endpoint",
                                     "1",
                                     "--scheduling-profile",
                                     "round-robin",
                                     "--scrape-interval-ms",
                                     "200",
                                     "--access-log-file",
                                     (dir / log).string()};
    args.insert(args.end(), extra.begin(), extra.end());
    return new Process(INFERGATE_BIN, args);
  }
  static int picker_port(const Process& p) { return p.ready().at("port").to_number<int>(); }
  static int admin_port(const Process& p) { return p.ready().at("admin_port").to_number<int>(); }

  static HttpResponse ask(const std::string& model, bool stream = false,
                          const std::map<std::string, std::string>& headers = {}) {
    HttpClient c = gateway->client();
    return c.post("/v1/completions", completion(model, 4, stream, stream), headers);
  }

  static std::string error_message(const HttpResponse& r) {
    boost::system::error_code ec;
    const json::value v = json::parse(r.body, ec);
    if (ec || !v.is_object() || !v.as_object().contains("error")) return r.body;
    return std::string(v.at("error").at("message").as_string());
  }

  // Waits (bounded) until the picker holds no request: everything it took in flight, the
  // gateway gave back by ending the stream (the response's end, or its abandonment).
  static void expect_released(const Process& picker) {
    HttpClient admin("127.0.0.1", static_cast<unsigned short>(admin_port(picker)));
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    std::string page;
    for (;;) {
      page = admin.get("/metrics").body;
      if (sum_of_samples(page, "infergate_requests_in_flight") == 0 &&
          sum_of_samples(page, "infergate_endpoint_in_flight_requests") == 0)
        return;
      if (std::chrono::steady_clock::now() > deadline) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));  // polling an observable
    }
    ADD_FAILURE() << "the picker still holds requests:\n" << page;
  }

  static double picker_metric(const Process& picker, const std::string& family) {
    HttpClient admin("127.0.0.1", static_cast<unsigned short>(admin_port(picker)));
    return sum_of_samples(admin.get("/metrics").body, family);
  }

  // The picker's access-log lines for `request_id` (bounded wait: the log is written behind).
  static json::object picker_log_line(const std::string& log, const std::string& request_id) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    for (;;) {
      std::ifstream in(dir / log);
      for (std::string line; std::getline(in, line);) {
        boost::system::error_code ec;
        json::value v = json::parse(line, ec);
        if (!ec && v.is_object() && v.as_object().contains("request_id") &&
            v.at("request_id").as_string() == request_id)
          return v.as_object();
      }
      if (std::chrono::steady_clock::now() > deadline) return {};
      std::this_thread::sleep_for(std::chrono::milliseconds(20));  // polling an observable
    }
  }

  static inline fs::path dir;
  static inline Process* sim = nullptr;
  static inline Process* good = nullptr;
  static inline Process* fallback = nullptr;
  static inline Process* outside = nullptr;
  static inline Gateway* gateway = nullptr;
  static inline int port_a = 0, port_b = 0;
};

TEST_F(GatewayToPicker, ThePickerDecidesAndSeesTheResponse) {
  const double before = picker_metric(*good, "infergate_output_tokens_total");
  const HttpResponse whole = ask("good");
  ASSERT_EQ(whole.status, 200) << whole.body;
  const HttpResponse streamed = ask("good", true);
  ASSERT_EQ(streamed.status, 200) << streamed.body;
  EXPECT_NE(streamed.body.find("data: [DONE]"), std::string::npos) << streamed.body;
  // Both responses went through the picker: it read their usage.
  expect_released(*good);
  EXPECT_EQ(picker_metric(*good, "infergate_output_tokens_total"), before + 8);
}

TEST_F(GatewayToPicker, ThePickersRewriteGoesUpstreamAndBack) {
  // The picker's InferenceModel sends food-review to food-review-1 and names the client's
  // model in the response again; the gateway knows neither.
  const HttpResponse r = ask("food-review");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json::parse(r.body).at("model").as_string(), "food-review");
  const HttpResponse s = ask("food-review", true);
  ASSERT_EQ(s.status, 200) << s.body;
  for (const std::string& payload : sse_payloads(s.body)) {
    if (payload == "[DONE]") continue;
    EXPECT_EQ(json::parse(payload).at("model").as_string(), "food-review") << payload;
  }
  expect_released(*good);
}

TEST_F(GatewayToPicker, FallbacksAreTriedInOrderAndTheServedOneIsReported) {
  // Replica a answers 503 to everything; the picker names a first and b after it.
  HttpClient admin = gateway->admin();
  const std::string tried_a = "infergate_endpoint_requests_total{pool=\"fallback\",endpoint=\"a\"";
  const double a_before = std::max(0.0, sample_value(admin.get("/metrics").body, tried_a));
  HttpClient a("127.0.0.1", static_cast<unsigned short>(port_a));
  ASSERT_EQ(a.post("/sim/faults", R"({"failure_rate": 1, "failure_status": 503})").status, 200);
  for (int i = 0; i < 2; ++i) {
    const std::string id = "fallback-" + std::to_string(i);
    const HttpResponse r = ask("fallback", false, {{"x-request-id", id}});
    EXPECT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.header("x-inference-pod"), "sim-1");
    // The picker accounts the request to the endpoint that served it (proposal 004).
    const json::object line = picker_log_line("fallback.log", id);
    ASSERT_FALSE(line.empty()) << id;
    EXPECT_EQ(line.at("endpoint").as_string(), "127.0.0.1:" + std::to_string(port_b));
  }
  ASSERT_EQ(a.post("/sim/faults", R"({"failure_rate": 0})").status, 200);
  EXPECT_EQ(sample_value(admin.get("/metrics").body, tried_a), a_before + 2);
  expect_released(*fallback);
}

TEST_F(GatewayToPicker, ThePickersRefusalKeepsItsStatus) {
  // One request in flight on each endpoint saturates the picker's pool: a Sheddable request
  // (the objective `batch`, which the gateway knows and which lowers the priority) is shed.
  std::vector<std::unique_ptr<HttpClient>> held;
  for (int i = 0; i < 2; ++i) {
    held.push_back(std::make_unique<HttpClient>("127.0.0.1", gateway->port));
    held.back()->send_only("/v1/completions", completion("good", 4000, true));
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (picker_metric(*good, "infergate_endpoint_in_flight_requests") < 2 &&
         std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // polling an observable
  const HttpResponse shed = ask("shed", false, {{"x-gateway-inference-objective", "batch"}});
  EXPECT_EQ(shed.status, 429) << shed.body;
  EXPECT_NE(error_message(shed).find("the endpoint picker refused the request"), std::string::npos)
      << shed.body;
  EXPECT_FALSE(shed.header("retry-after").empty());
  // The held clients leave: the gateway abandons their responses, and with them the streams.
  held.clear();
  expect_released(*good);
}

TEST_F(GatewayToPicker, APickerThatIsDown) {
  const HttpResponse closed = ask("down-close");
  EXPECT_EQ(closed.status, 503) << closed.body;
  EXPECT_NE(error_message(closed).find("the endpoint picker no-picker failed"), std::string::npos)
      << closed.body;
  const HttpResponse open = ask("down-open");
  EXPECT_EQ(open.status, 200) << open.body;  // InferGate's own picker chose
  // A degraded mode: counted per picker and outcome.
  HttpClient admin = gateway->admin();
  const std::string page = admin.get("/metrics").body;
  const std::string family = "infergate_picker_client_requests_total{picker=\"default/no-picker\"";
  EXPECT_EQ(sample_value(page, family + ",outcome=\"failed_open\"}"), 1) << page;
  EXPECT_EQ(sample_value(page, family + ",outcome=\"failed_closed\"}"), 1) << page;
}

TEST_F(GatewayToPicker, APickerThatIsTooSlow) {
  ASSERT_EQ(ask("good").status, 200);  // the channel is up before the picker stops
  // Stopped for good before it is asked: a picker stopped only once it had answered the
  // decision would be slow on the response instead.
  ASSERT_TRUE(good->child.stop(std::chrono::seconds(10)));
  const auto started = std::chrono::steady_clock::now();
  const HttpResponse closed = ask("good");
  const HttpResponse open = ask("good-open");
  const auto took = std::chrono::steady_clock::now() - started;
  ::kill(good->child.pid(), SIGCONT);
  EXPECT_EQ(closed.status, 503) << closed.body;
  EXPECT_NE(error_message(closed).find("did not decide within 500 ms"), std::string::npos)
      << closed.body;
  EXPECT_EQ(open.status, 200) << open.body;
  EXPECT_LT(took, std::chrono::seconds(5));
  EXPECT_EQ(ask("good").status, 200);  // and back
  expect_released(*good);
}

TEST_F(GatewayToPicker, AnEndpointOutsideThePoolIsRefused) {
  const HttpResponse r = ask("outside");
  EXPECT_EQ(r.status, 503) << r.body;
  EXPECT_NE(error_message(r).find("outside the pool (pool default/outside)"), std::string::npos)
      << r.body;
  expect_released(*outside);
}

}  // namespace
}  // namespace infergate::testing
